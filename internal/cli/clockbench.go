package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/services/clock"
)

func init() {
	commands["clockbench"] = command{"measure how many live clocks one clock service holds, its memory and how late breaches are", cmdClockBench}
}

// cmdClockBench loads one clock service with live s136 clocks through the
// bus, as police detentions, then lets some of them breach on the real
// clock, and prints the figures: live clocks, load rate, breach lateness,
// memory.
func cmdClockBench(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "clockbench", "[flags]")
	n := fs.Int("clocks", 100000, "live clocks to hold")
	due := fs.Int("due", 2000, "how many of them breach during the measurement")
	window := fs.Duration("window", 10*time.Second, "the breaches are spread evenly over this window")
	data := fs.String("data", "", "data directory (default a new temporary directory; give one on tmpfs to leave out disk fsync)")
	serve := fs.String("serve", "", "internal: run only the NATS server on this data directory (the benchmark starts itself with it)")
	port := fs.Int("port", 0, "internal: NATS port for --serve")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serve != "" {
		b, err := broker.Start(ctx, broker.Config{DataDir: *serve, Port: *port})
		if err != nil {
			return err
		}
		defer b.Shutdown()
		// The benchmark holds our stdin open: when it ends, so do we.
		ctx, cancel := context.WithCancel(ctx)
		go func() { _, _ = io.Copy(io.Discard, e.stdin); cancel() }()
		fmt.Fprintln(e.stdout, "ready")
		<-ctx.Done()
		return nil
	}
	if *n <= 0 || *due < 0 || *due > *n || *window <= 0 {
		return usageError{fmt.Sprintf("need clocks > 0, 0 <= due <= clocks, window > 0 (got %d, %d, %s)", *n, *due, *window)}
	}
	dir := *data
	if dir == "" {
		d, err := os.MkdirTemp("", "crisisbus-clockbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		defer os.Remove(broker.DefaultStoreKeyFile(d))
		dir = d
	}
	// The NATS server runs in a child process, so this process's resident
	// memory is the clock service's own.
	url, serverPID, stop, err := startServerProcess(ctx, dir)
	if err != nil {
		return err
	}
	defer stop()
	creds, err := broker.LoadCredentials(dir)
	if err != nil {
		return err
	}
	bus := func(a events.Agency) (*natsbus.Bus, error) {
		nc, err := broker.ConnectAs(url, creds, a)
		if err != nil {
			return nil, err
		}
		return natsbus.NewBus(nc, a, nil)
	}
	admin, err := bus("")
	if err != nil {
		return err
	}
	defer admin.Conn().Close()
	if err := natsbus.Provision(ctx, admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		return err
	}
	police, err := bus(events.Police)
	if err != nil {
		return err
	}
	defer police.Conn().Close()
	clockBus, err := bus(events.Clock)
	if err != nil {
		return err
	}
	defer clockBus.Conn().Close()

	runtime.GC()
	heapBefore := heapInUse()
	// Warn a second before, repeat daily: each measured clock publishes one
	// warning and one breach inside the window.
	svc, err := clock.Start(ctx, clockBus, clock.Config{S136: clock.Timing{WarnBefore: time.Second, RepeatEvery: 24 * time.Hour}})
	if err != nil {
		return err
	}
	defer func() {
		if svc != nil {
			svc.Stop()
		}
	}()

	// Detentions kept where they are, whose 24 hours end between 2 and 23
	// hours from now: live, not yet due.
	far := *n - *due
	fmt.Fprintf(e.stdout, "loading %d live s136 clocks through the bus (data in %s)...\n", *n, dir)
	start := time.Now()
	detain := func(i int, at time.Time) events.Event {
		ev, _ := events.New(events.Police, events.NewEpisodeID(), &events.S136Detained{DetainedAt: at.UTC(),
			LocationType: "public_place", AgeYears: 18 + i%60, KeptWhereTheyAre: true, Consulted: true}, events.At(at))
		return ev
	}
	span := 21 * time.Hour
	if err := publishAll(ctx, police, far, func(i int) events.Event {
		return detain(i, start.Add(-24*time.Hour+2*time.Hour+time.Duration(i)*span/time.Duration(max(far, 1))))
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Minute, func() bool { return svc.Live() >= far }); err != nil {
		return fmt.Errorf("the clock service holds %d of %d clocks: %w", svc.Live(), far, err)
	}
	loaded := time.Since(start)

	// The measured clocks: due evenly over the window, starting once they
	// are all in (twice the time the load rate says they take, and 2s), so
	// what is measured is the scanner, not the backlog of the load.
	rate := float64(far) / loaded.Seconds()
	if far == 0 {
		rate = 500
	}
	first := time.Now().Add(2*time.Second + time.Duration(2*float64(*due)/rate*float64(time.Second)))
	if err := publishAll(ctx, police, *due, func(i int) events.Event {
		return detain(i, first.Add(-24*time.Hour+time.Duration(i)**window/time.Duration(max(*due, 1))))
	}); err != nil {
		return err
	}
	if err := waitFor(ctx, time.Until(first), func() bool { return svc.Live() >= *n }); err != nil {
		return fmt.Errorf("the measured clocks were not all in before the first was due (%d of %d): %w", svc.Live(), *n, err)
	}
	if err := waitFor(ctx, time.Until(first)+*window+time.Minute, func() bool {
		return svc.Lateness().Count >= *due
	}); err != nil {
		return fmt.Errorf("%d of %d breaches published: %w", svc.Lateness().Count, *due, err)
	}
	late := svc.Lateness()
	live := svc.Live()
	runtime.GC()
	heapWith, rss, serverRSS := heapInUse(), residentMemory("self"), residentMemory(strconv.Itoa(serverPID))
	serviceHeap := int64(heapWith) - int64(heapBefore)

	// A restart: every clock is read back from the bucket before the
	// service starts scanning.
	svc.Stop()
	restart := time.Now()
	svc, err = clock.Start(ctx, clockBus, clock.Config{S136: clock.Timing{WarnBefore: time.Second, RepeatEvery: 24 * time.Hour}})
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	reloaded, reloadTime := svc.Live(), time.Since(restart)
	mb := func(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
	fmt.Fprintf(e.stdout, "\nclock service, one instance (NATS server in a separate process):\n")
	fmt.Fprintf(e.stdout, "  live clocks held:          %d (target 100000)\n", live)
	fmt.Fprintf(e.stdout, "  load through the bus:      %d detentions handled in %s (%.0f/s)\n", far, loaded.Round(time.Millisecond), float64(far)/loaded.Seconds())
	fmt.Fprintf(e.stdout, "  breaches measured:         %d, due evenly over %s\n", late.Count, *window)
	fmt.Fprintf(e.stdout, "  breach lateness:           p50 %s, p99 %s, max %s (target p99 < 1s)\n",
		late.P50.Round(time.Millisecond), late.P99.Round(time.Millisecond), late.Max.Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "  restart:                   %d clocks reloaded from the KV bucket in %s\n", reloaded, reloadTime.Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "  clock service heap:        %s live after GC (%d bytes a clock)\n", mb(uint64(max(serviceHeap, 0))), serviceHeap/int64(max(live, 1)))
	fmt.Fprintf(e.stdout, "  resident memory:           %s (the whole clock service process; target < 100 MB)\n", mb(rss))
	fmt.Fprintf(e.stdout, "  NATS server process:       %s resident (stream, KV bucket and their indexes)\n", mb(serverRSS))
	return nil
}

// publishAll publishes count events made by mk, in pipelined batches.
func publishAll(ctx context.Context, bus *natsbus.Bus, count int, mk func(i int) events.Event) error {
	const batch = 1000
	for i := 0; i < count; i += batch {
		evs := make([]events.Event, 0, batch)
		for j := i; j < min(i+batch, count); j++ {
			evs = append(evs, mk(j))
		}
		for k, r := range bus.PublishBatch(ctx, evs) {
			if r.Err != nil {
				return fmt.Errorf("event %d: %w", i+k, r.Err)
			}
		}
	}
	return nil
}

func waitFor(ctx context.Context, total time.Duration, ok func() bool) error {
	deadline := time.Now().Add(total)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %s", total)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// startServerProcess runs this binary as `clockbench --serve dir` on a free
// port and waits until it takes connections; stop ends it.
func startServerProcess(ctx context.Context, dir string) (url string, pid int, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	exe, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "clockbench", "--serve", dir, "--port", strconv.Itoa(port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, fmt.Errorf("start NATS server process: %w", err)
	}
	stop = func() {
		_ = in.Close()
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		stop()
		return "", 0, nil, fmt.Errorf("NATS server process did not start: %q %v", line, err)
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", port), cmd.Process.Pid, stop, nil
}

// residentMemory is a process's resident set size (Linux; pid or "self"), 0 elsewhere.
func residentMemory(pid string) uint64 {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
