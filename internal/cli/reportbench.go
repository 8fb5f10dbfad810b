package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bench"
	"github.com/crisisbus/crisisbus/services/reports"
	"github.com/crisisbus/crisisbus/services/reports/reportgen"
)

func init() {
	commands["reportbench"] = command{"measure import against raw JetStream async publish, and building every report over 1,000,000 events", cmdReportBench}
}

func cmdReportBench(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "reportbench", "[flags]")
	importN := fs.Int("import-events", 20000, "events per path for import against raw publish on the fsync-always server")
	fastN := fs.Int("fast-import-events", 100000, "events per path for the same comparison with fsync left to the OS")
	total := fs.Int("report-events", 1000000, "events in the stream the reports are built from")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the report build to this file")
	importProfile := fs.String("import-cpuprofile", "", "write a CPU profile of the import with fsync left to the OS to this file")
	tailN := fs.Int("tail-events", 10000, "events stored after the snapshot, read with it (the console saves one every "+fmt.Sprint(reports.SnapshotEvery)+" events or "+reports.SnapshotInterval.String()+")")
	keep := fs.String("keep", "", "keep the no-fsync server's store in `DIR`; a later run over the same DIR skips the import comparison and reuses the stored events")
	serveDir := fs.String("serve-fast", "", "(internal) run the no-fsync server in DIR, print its URL, answer \"cpu\" with its CPU time, stop when stdin closes")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serveDir != "" {
		srv, err := fastServer(*serveDir)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		fmt.Fprintln(e.stdout, srv.ClientURL())
		sc := bufio.NewScanner(e.stdin)
		for sc.Scan() {
			if sc.Text() == "cpu" {
				fmt.Fprintln(e.stdout, int64(bench.ProcessCPU()))
			}
		}
		return nil
	}
	dir, err := os.MkdirTemp("", "crisisbus-reportbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := e.stdout
	fmt.Fprintf(out, "crisisbus reportbench: %d cores, %s\n\n", runtime.NumCPU(), runtime.Version())

	fastDir := filepath.Join(dir, "fast")
	if *keep != "" {
		fastDir = *keep
	}
	srv, err := fastServerProcess(fastDir)
	if err != nil {
		return err
	}
	defer srv.stop()
	fnc, err := nats.Connect(srv.url)
	if err != nil {
		return err
	}
	defer fnc.Close()
	bus, _ := natsbus.NewBus(fnc, "", nil)
	stored := 0
	if st, err := bus.JetStream().Stream(ctx, natsbus.Stream); err == nil {
		stored = int(st.CachedInfo().State.Msgs)
	}
	seed := uint64(3)
	if stored == 0 {
		if err := compareImports(ctx, e, dir, fnc, *importN, *fastN, *importProfile); err != nil {
			return err
		}
		stored += 2 * *fastN
	} else {
		fmt.Fprintf(out, "%s already holds %d events: the import comparison is not run again\n", fastDir, stored)
		seed += uint64(stored) // events not loaded before
	}

	rng := reports.Range{From: reports.MonthFor(2015, time.January), To: reports.MonthFor(2024, time.December)}
	if stored < *total {
		fmt.Fprintf(e.stderr, "loading %d more events for the report build…\n", *total-stored)
		n, err := load(ctx, bus.JetStream(), reportgen.New(seed), rng, *total-stored)
		if err != nil {
			return err
		}
		stored += n
	}
	// The floor: reading every stored event without counting anything, in
	// order, and in ranges side by side as Rebuild reads.
	start, srvCPU := time.Now(), srv.cpu()
	read := 0
	if err := bus.ReplayRaw(ctx, natsbus.ReplayConfig{}, func(natsbus.Stored) error { read++; return nil }); err != nil {
		return err
	}
	readOnly, readOnlyCPU := time.Since(start), srv.cpu()-srvCPU
	start, srvCPU = time.Now(), srv.cpu()
	ranged, err := reports.ReadAll(ctx, bus, func(natsbus.Stored) {})
	if err != nil {
		return err
	}
	rangedOnly, rangedCPU := time.Since(start), srv.cpu()-srvCPU
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop, err := profileCPU(*cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	start, srvCPU = time.Now(), srv.cpu()
	cpu := bench.ProcessCPU()
	proj, err := reports.Rebuild(ctx, bus)
	if err != nil {
		return err
	}
	replayed, replayCPU, ownCPU := time.Since(start), srv.cpu()-srvCPU, bench.ProcessCPU()-cpu
	tables := proj.All(rng)
	elapsed := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	per := func(d time.Duration, n int) time.Duration {
		return (d / time.Duration(max(n, 1))).Round(100 * time.Nanosecond)
	}
	fmt.Fprintf(out, "\nevery report (%d tables, %d months) over %d stored events:\n", len(tables), rng.Len(), stored)
	fmt.Fprintf(out, "  read only, in order:   %s (%.0f events/s, server CPU %s an event; one consumer, counting nothing)\n",
		readOnly.Round(time.Millisecond), float64(read)/readOnly.Seconds(), per(readOnlyCPU, read))
	fmt.Fprintf(out, "  read only, in ranges:  %s (%.0f events/s, server CPU %s an event; as the report reads)\n",
		rangedOnly.Round(time.Millisecond), float64(ranged)/rangedOnly.Seconds(), per(rangedCPU, ranged))
	fmt.Fprintf(out, "  replay and count:      %s (%.0f events/s, CPU an event: report %s, server %s)\n",
		replayed.Round(time.Millisecond), float64(stored)/replayed.Seconds(), per(ownCPU, stored), per(replayCPU, stored))
	fmt.Fprintf(out, "  build the tables:      %s\n", (elapsed - replayed).Round(time.Millisecond))
	fmt.Fprintf(out, "  total:                 %s (target under 10s)\n", elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "  heap after build:      %d MiB (the report's process; the server runs in another)\n", after.HeapAlloc>>20)
	if len(proj.Skipped()) > 0 {
		return fmt.Errorf("%d stored events were not counted", len(proj.Skipped()))
	}
	return snapshotFigures(ctx, e, bus, proj, rng, *tailN, seed+uint64(*total))
}

// snapshotFigures saves the rebuilt projection as the console would, stores
// tail more events, and measures the report from the snapshot and the
// events after it, then checks it against a full rebuild of the same
// stream.
func snapshotFigures(ctx context.Context, e env, bus *natsbus.Bus, proj *reports.Projection, rng reports.Range, tail int, seed uint64) error {
	out := e.stdout
	if err := rights.Provision(ctx, bus.JetStream(), natsbus.StreamConfig{}); err != nil {
		return err
	}
	snaps, err := reports.OpenSnapshots(ctx, bus.JetStream())
	if err != nil {
		return err
	}
	start := time.Now()
	saved, err := snaps.SaveRebuilt(ctx, bus, proj)
	if err != nil {
		return err
	}
	saveTime := time.Since(start)
	runtime.GC()
	start = time.Now()
	if _, src, err := reports.Build(ctx, bus, snaps); err != nil {
		return err
	} else if src.Rebuilt || src.Read != 0 {
		return fmt.Errorf("the report did not use the snapshot just saved alone: %s", src)
	}
	loadTime := time.Since(start)
	if tail > 0 {
		fmt.Fprintf(e.stderr, "storing %d events after the snapshot…\n", tail)
		if _, err := load(ctx, bus.JetStream(), reportgen.New(seed), rng, tail); err != nil {
			return err
		}
	}
	runtime.GC()
	start = time.Now()
	fromSnap, src, err := reports.Build(ctx, bus, snaps)
	if err != nil {
		return err
	}
	built := time.Since(start)
	tables := fromSnap.All(rng)
	withSnap := time.Since(start)
	if src.Rebuilt {
		return fmt.Errorf("the report did not use the snapshot just saved: %s", src)
	}
	fmt.Fprintf(out, "\nevery report from the console's snapshot (through sequence %d) and %d events stored after it:\n", saved.Through, src.Read)
	fmt.Fprintf(out, "  save the snapshot:     %s (%.1f MiB; the console's work, not the report's)\n", saveTime.Round(time.Millisecond), float64(saved.Bytes)/(1<<20))
	fmt.Fprintf(out, "  load it alone:         %s (read, check and decode it; nothing stored after it)\n", loadTime.Round(time.Millisecond))
	fmt.Fprintf(out, "  load it, read after:   %s (%s an event after it)\n", built.Round(time.Millisecond), ((built - min(loadTime, built)) / time.Duration(max(src.Read, 1))).Round(100*time.Nanosecond))
	fmt.Fprintf(out, "  build the tables:      %s\n", (withSnap - built).Round(time.Millisecond))
	fmt.Fprintf(out, "  total:                 %s (target under 10s)\n", withSnap.Round(time.Millisecond))
	start = time.Now()
	rebuilt, err := reports.Rebuild(ctx, bus)
	if err != nil {
		return err
	}
	again := rebuilt.All(rng)
	fmt.Fprintf(out, "  the same stream rebuilt without it: %s\n", time.Since(start).Round(time.Millisecond))
	for i := range tables {
		var a, b bytes.Buffer
		_ = reports.Write(&a, tables[i], "csv")
		_ = reports.Write(&b, again[i], "csv")
		if a.String() != b.String() {
			return fmt.Errorf("report %s from the snapshot differs from the one rebuilt from the whole stream:\n%s\nrebuilt:\n%s", tables[i].Name, a.String(), b.String())
		}
	}
	fmt.Fprintf(out, "  tables from the snapshot and rebuilt: the same (%d tables)\n", len(tables))
	return nil
}

// compareImports measures import against raw async publish on the
// fsync-always embedded broker, then on the no-fsync server fnc is
// connected to.
func compareImports(ctx context.Context, e env, dir string, fnc *nats.Conn, importN, fastN int, profile string) error {
	out := e.stdout
	// 1. The production setting: the embedded broker fsyncs every write.
	b, err := broker.Start(ctx, broker.Config{DataDir: filepath.Join(dir, "fsync"), Port: -1})
	if err != nil {
		return err
	}
	nc, err := b.Connect("")
	if err != nil {
		b.Shutdown()
		return err
	}
	fig, err := importAgainstRaw(ctx, nc, importN, 1, e.stderr, "")
	nc.Close()
	b.Shutdown()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "import, fsync on every write (the embedded default), %d events per path:\n", importN)
	printRatio(out, fig, "the clients and the embedded server")

	// 2. Fsync left to the OS, so the client's work shows.
	fig, err = importAgainstRaw(ctx, fnc, fastN, 2, e.stderr, profile)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nimport, fsync left to the OS, %d events per path:\n", fastN)
	printRatio(out, fig, "the clients; the server runs in another")
	return nil
}

// importFigures are the two paths' rates and this process's CPU time per
// event (which, unlike the rates, does not move when other work shares the
// machine).
type importFigures struct {
	raw, imp       float64
	rawCPU, impCPU time.Duration
}

func printRatio(w io.Writer, f importFigures, cpuOf string) {
	fmt.Fprintf(w, "  raw JetStream async publish: %8.0f events/s\n", f.raw)
	fmt.Fprintf(w, "  crisisbus import:            %8.0f events/s\n", f.imp)
	fmt.Fprintf(w, "  import / raw:                %8.2f× (target ≥ 0.50×)\n", f.imp/f.raw)
	fmt.Fprintf(w, "  CPU per event, raw / import: %8s / %s (this process: %s)\n",
		f.rawCPU.Round(100*time.Nanosecond), f.impCPU.Round(100*time.Nanosecond), cpuOf)
}

// benchServer is the no-fsync server's child process.
type benchServer struct {
	url   string
	stop  func()
	ask   io.Writer
	reply *bufio.Reader
}

// cpu is the server process's CPU time so far (0 if it did not say).
func (s *benchServer) cpu() time.Duration {
	if _, err := fmt.Fprintln(s.ask, "cpu"); err != nil {
		return 0
	}
	line, err := s.reply.ReadString('\n')
	if err != nil {
		return 0
	}
	var ns int64
	_, _ = fmt.Sscan(line, &ns)
	return time.Duration(ns)
}

// fastServerProcess runs fastServer in a child process, as `crisisbus up`
// runs apart from `crisisbus report`: the report's process then holds (and
// garbage-collects) only its own memory, not the server's, and the
// server's CPU time is its own.
func fastServerProcess(dir string) (*benchServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "reportbench", "--serve-fast", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &benchServer{ask: stdin, reply: bufio.NewReader(stdout)}
	s.stop = func() {
		stdin.Close()
		_ = cmd.Wait()
	}
	line, err := s.reply.ReadString('\n')
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("bench server: %w", err)
	}
	s.url = strings.TrimSpace(line)
	return s, nil
}

// fastServer is an embedded server like the broker's but without fsync on
// every write and without users.
func fastServer(dir string) (*server.Server, error) {
	srv, err := server.NewServer(&server.Options{ServerName: "reportbench", Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: dir, NoSigs: true, MaxPayload: 4 << 20})
	if err != nil {
		return nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(time.Minute) { // a kept store of a million events is recovered first
		srv.Shutdown()
		return nil, fmt.Errorf("bench server not ready")
	}
	// Its one account holds the store: crisisbus's clients call the API
	// under natsbus.APIPrefix, which is the API here.
	if err := srv.GlobalAccount().AddMapping(natsbus.APIPrefix+".>", "$JS.API.>"); err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("bench server: %w", err)
	}
	return srv, nil
}

// pathwayNDJSON generates n pathway events as NDJSON, exactly as an export
// writes them.
func pathwayNDJSON(g *reportgen.Gen, rng reports.Range, n int) ([]byte, error) {
	var buf bytes.Buffer
	count := 0
	for count < n {
		evs := genPathway(g, rng)
		for _, ev := range evs {
			if count == n {
				break
			}
			raw, err := json.Marshal(ev)
			if err != nil {
				return nil, err
			}
			buf.Write(raw)
			buf.WriteByte('\n')
			count++
		}
	}
	return buf.Bytes(), g.Err()
}

func genPathway(g *reportgen.Gen, rng reports.Range) []events.Event {
	m := rng.From + reports.Month(g.Rand().IntN(rng.Len()))
	if g.Rand().IntN(3) == 0 {
		return g.StreetTriage(g.InMonth(m), g.Rand().IntN(3) == 0)
	}
	return g.Detention(g.RandomDetention(g.InMonth(m), reportgen.Outcomes[g.Rand().IntN(len(reportgen.Outcomes))]))
}

// rawMessages turns NDJSON lines into plain JetStream messages: the subject
// and message id only, prepared before any timing.
func rawMessages(nd []byte) ([]*nats.Msg, error) {
	var out []*nats.Msg
	for line := range bytes.Lines(nd) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		var e events.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, err
		}
		subj, err := events.Subject(e)
		if err != nil {
			return nil, err
		}
		m := nats.NewMsg(subj)
		m.Data = line
		m.Header.Set(jetstream.MsgIDHeader, e.ID)
		out = append(out, m)
	}
	return out, nil
}

// rawPublish is JetStream async publish with nothing added: no validation.
func rawPublish(ctx context.Context, js jetstream.JetStream, msgs []*nats.Msg) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m, jetstream.WithStallWait(time.Minute))
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		}
	}
	return nil
}

// importAgainstRaw measures raw async publish and crisisbus import of the
// same number of pathway events (two different sets, so neither is a
// duplicate of the other), in the same run on the same server.
func importAgainstRaw(ctx context.Context, nc *nats.Conn, n int, seed uint64, progress io.Writer, profile string) (f importFigures, err error) {
	rng := reports.Range{From: reports.MonthFor(2015, time.January), To: reports.MonthFor(2024, time.December)}
	fmt.Fprintf(progress, "generating 2 × %d events…\n", n)
	a, err := pathwayNDJSON(reportgen.New(seed*1000+1), rng, n)
	if err != nil {
		return f, err
	}
	b, err := pathwayNDJSON(reportgen.New(seed*1000+2), rng, n)
	if err != nil {
		return f, err
	}
	bus, err := natsbus.NewBus(nc, "", nil)
	if err != nil {
		return f, err
	}
	if err := natsbus.Provision(ctx, bus.JetStream(), natsbus.StreamConfig{}); err != nil {
		return f, err
	}
	msgs, err := rawMessages(a)
	if err != nil {
		return f, err
	}
	fmt.Fprintf(progress, "raw JetStream async publish of %d events…\n", n)
	start, cpu := time.Now(), bench.ProcessCPU()
	if err := rawPublish(ctx, bus.JetStream(), msgs); err != nil {
		return f, fmt.Errorf("raw publish: %w", err)
	}
	f.raw = float64(n) / time.Since(start).Seconds()
	f.rawCPU = (bench.ProcessCPU() - cpu) / time.Duration(n)
	fmt.Fprintf(progress, "crisisbus import of %d events…\n", n)
	im := &importer{bus: bus, batch: 4000, errOut: progress}
	stop, err := profileCPU(profile)
	if err != nil {
		return f, err
	}
	cpu = bench.ProcessCPU()
	st, err := im.run(ctx, bytes.NewReader(b))
	stop()
	if err != nil {
		return f, err
	}
	f.impCPU = (bench.ProcessCPU() - cpu) / time.Duration(n)
	if st.Loaded != n {
		return f, fmt.Errorf("import loaded %d of %d (%d duplicates, %d rejected)", st.Loaded, n, st.Duplicates, st.Rejected)
	}
	f.imp = float64(n) / st.Elapsed.Seconds()
	return f, nil
}

// load publishes n generated events with raw async publish (setting up the
// stream the reports are built from).
func load(ctx context.Context, js jetstream.JetStream, g *reportgen.Gen, rng reports.Range, n int) (int, error) {
	done := 0
	for done < n {
		chunk := min(50000, n-done)
		nd, err := pathwayNDJSON(g, rng, chunk)
		if err != nil {
			return done, err
		}
		msgs, err := rawMessages(nd)
		if err != nil {
			return done, err
		}
		if err := rawPublish(ctx, js, msgs); err != nil {
			return done, err
		}
		done += chunk
	}
	return done, nil
}
