package chaos_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/crisisbus/crisisbus/deploy/internal/clustertest"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/fakeclock"
	"github.com/crisisbus/crisisbus/services/clock"
	"github.com/crisisbus/crisisbus/services/record"
)

// size is how hard a chaos run pushes.
type size struct {
	name     string
	handoffs int // offered while the stream's leader is killed
	workers  int // police clients offering side by side
	// freeze is how long the leader is stopped (SIGSTOP), while
	// freezeHandoffs are offered.
	freeze         time.Duration
	freezeHandoffs int
	clockEpisodes  int // detentions whose clocks two clock services keep
	// offline is how long SPoA is offline at least, while offlineHandoffs
	// are offered to it.
	offline         time.Duration
	offlineHandoffs int
}

var (
	short = size{name: "short", handoffs: 90, workers: 4, freeze: 5 * time.Second, freezeHandoffs: 40,
		clockEpisodes: 10, offline: 10 * time.Second, offlineHandoffs: 250}
	full = size{name: "full", handoffs: 2000, workers: 8, freeze: 20 * time.Second, freezeHandoffs: 500,
		clockEpisodes: 200, offline: 10 * time.Minute, offlineHandoffs: 10000}
)

// figures are what a chaos run measured.
type figures struct {
	killHandoffs      int
	killPause         time.Duration // longest gap between stored offers, around the kill
	killPauseFrom     time.Duration // when that gap began, from the kill
	killRetries       int64         // police client tries that failed and were made again
	killRejoin        time.Duration // the killed node restarted until the stream was on 3 of 3 again
	restartEvents     int
	restartReady      time.Duration // three nodes started until the stream was on 3 of 3
	freezeHandoffs    int
	freezePause       time.Duration
	freezePauseFrom   time.Duration // when that gap began, from the SIGSTOP
	freezeRejoin      time.Duration // SIGCONT until the stopped node was a current replica again
	clockEpisodes     int
	clockBreaches     int
	offlineHandoffs   int
	offlineFor        time.Duration
	offlineDrain      time.Duration // SPoA back until its inbox had acknowledged every offer
	streamEventsAtEnd int
	// lost counts handoffs the server acknowledged as offered that were not
	// stored once and acknowledged once by SPoA; duplicated, events stored
	// twice. Both are 0 or the run fails.
	lost, duplicated int
}

// checked tallies one run's handoffs into the figures and fails the run
// unless all want of them are whole.
func (f *figures) checked(t testing.TB, tl tally, r *run, want int, what string) {
	t.Helper()
	whole, dup := tl.check(t, r)
	f.lost += want - whole
	f.duplicated = max(f.duplicated, dup)
	if whole != want {
		t.Fatalf("%s: %d of %d handoffs offered, stored once and acknowledged once", what, whole, want)
	}
}

func (f figures) print(w io.Writer, sz size) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "chaos run (%s)\tfigure\n", sz.name)
	fmt.Fprintf(tw, "leader killed (SIGKILL) during %d handoffs\tlongest pause %s (from %s after the kill), %d tries made again\n", f.killHandoffs, f.killPause.Round(time.Millisecond), f.killPauseFrom.Round(time.Millisecond), f.killRetries)
	fmt.Fprintf(tw, "killed node restarted\tstream on 3 of 3 after %s\n", f.killRejoin.Round(time.Millisecond))
	fmt.Fprintf(tw, "all three nodes killed and restarted\t%d events, same on every node, 3 of 3 after %s\n", f.restartEvents, f.restartReady.Round(time.Millisecond))
	fmt.Fprintf(tw, "leader stopped (SIGSTOP) %s during %d handoffs\tlongest pause %s (from %s after SIGSTOP), node current %s after SIGCONT, 3 nodes identical\n", sz.freeze, f.freezeHandoffs, f.freezePause.Round(time.Millisecond), f.freezePauseFrom.Round(time.Millisecond), f.freezeRejoin.Round(time.Millisecond))
	fmt.Fprintf(tw, "two clock services, %d detentions\t%d breaches, each published once\n", f.clockEpisodes, f.clockBreaches)
	fmt.Fprintf(tw, "SPoA offline %s, %d handoffs offered\tdrained in %s (%.0f acknowledgements/s)\n", f.offlineFor.Round(time.Second), f.offlineHandoffs, f.offlineDrain.Round(time.Millisecond), float64(f.offlineHandoffs)/f.offlineDrain.Seconds())
	fmt.Fprintf(tw, "events in the stream at the end\t%d\n", f.streamEventsAtEnd)
	fmt.Fprintf(tw, "handoffs lost, events stored twice\t%d, %d\n", f.lost, f.duplicated)
	tw.Flush()
}

// The short run: every fault, small. The full run is BenchmarkChaos.
func TestAThreeNodeClusterSurvivesItsFaults(t *testing.T) {
	f := runChaos(t, short)
	var w stringsWriter
	f.print(&w, short)
	t.Log("\n" + string(w))
}

type stringsWriter []byte

func (w *stringsWriter) Write(p []byte) (int, error) { *w = append(*w, p...); return len(p), nil }

// BenchmarkChaos is the full run; its figures are printed as a table:
//
//	go test ./deploy/chaos -run '^$' -bench Chaos -benchtime 1x -timeout 60m
func BenchmarkChaos(b *testing.B) {
	var f figures
	for b.Loop() {
		f = runChaos(b, full)
	}
	f.print(os.Stdout, full)
	b.ReportMetric(float64(f.killPause.Milliseconds()), "kill-pause-ms")
	b.ReportMetric(float64(f.freezePause.Milliseconds()), "freeze-pause-ms")
	b.ReportMetric(f.offlineDrain.Seconds(), "offline-drain-s")
}

func runChaos(t testing.TB, sz size) figures {
	var f figures
	t0 := time.Now()
	phase := func(name string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), name) }
	c := startCluster(t)
	p := startPathway(t, c)
	js := p.jsFor()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()

	phase("leader killed")
	// 1. The event stream's leader is killed in the middle of a run of handoffs.
	leader := c.waitReplicated(js, 60*time.Second)
	r := newRun("kill")
	var once sync.Once
	var killedAt time.Time
	err := p.offerMany(ctx, r, 0, sz.handoffs, sz.workers, func(done int) {
		if done >= sz.handoffs/3 {
			once.Do(func() {
				killedAt = time.Now()
				c.kill(leader)
				t.Logf("node %d, the event stream's leader, killed after %d handoffs", leader+1, done)
			})
		}
	})
	if err != nil {
		t.Fatalf("police could not go on offering after the leader was killed: %v", err)
	}
	if killedAt.IsZero() {
		t.Fatal("the leader was never killed")
	}
	if after := r.ackedSince(killedAt); after < sz.handoffs-sz.handoffs/3-sz.workers {
		t.Fatalf("%d offers were stored after the kill, want at least %d", after, sz.handoffs-sz.handoffs/3-sz.workers)
	}
	p.waitInboxDrained(t, r, 5*time.Minute)
	f.checked(t, p.count(t), r, sz.handoffs, "leader killed")
	f.killHandoffs, f.killRetries = sz.handoffs, r.retries.Load()
	var began time.Time
	f.killPause, began = r.pause()
	f.killPauseFrom = began.Sub(killedAt)
	start := time.Now()
	c.start(leader)
	c.waitReplicated(js, 3*time.Minute)
	f.killRejoin = time.Since(start)

	phase("all three restarted")
	// 2. All three nodes are killed at once and started again.
	before := p.count(t)
	want, err := c.nodeState(leader, natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range clustertest.Nodes {
		wg.Go(func() { c.kill(i) })
	}
	wg.Wait()
	start = time.Now()
	for i := range clustertest.Nodes {
		c.start(i)
	}
	c.waitHealthy()
	c.waitReplicated(js, 3*time.Minute)
	f.restartReady = time.Since(start)
	for i := range clustertest.Nodes {
		got, err := c.nodeState(i, natsbus.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("node %d holds %+v after the restart, before it %+v", i+1, got, want)
		}
	}
	after := p.count(t)
	if after.events != before.events || len(after.acks) != len(before.acks) || len(after.offers) != len(before.offers) {
		t.Fatalf("after the restart the stream holds %d events, %d offers, %d acknowledgements; before it %d, %d, %d",
			after.events, len(after.offers), len(after.acks), before.events, len(before.offers), len(before.acks))
	}
	f.checked(t, after, r, sz.handoffs, "after all three restarted")
	f.restartEvents = after.events
	// The services found the cluster again: handoffs flow.
	r2 := newRun("after-restart")
	if err := p.offerMany(ctx, r2, 0, 10, 2, nil); err != nil {
		t.Fatalf("offer after the restart: %v", err)
	}
	p.waitInboxDrained(t, r2, 2*time.Minute)
	f.checked(t, p.count(t), r2, 10, "after the restart")

	phase("leader stopped")
	// 3. The leader is stopped (SIGSTOP) while handoffs are offered, then let go.
	leader = c.waitReplicated(js, 60*time.Second)
	r3 := newRun("freeze")
	offered := make(chan error, 1)
	go func() { offered <- p.offerMany(ctx, r3, 0, sz.freezeHandoffs, sz.workers, nil) }()
	bustest.CheckFor(t, time.Minute, 20*time.Millisecond, func() error {
		if n := r3.ackedSince(time.Time{}); n < sz.workers {
			return fmt.Errorf("%d offers stored", n)
		}
		return nil
	})
	frozen := time.Now()
	c.freeze(leader)
	t.Logf("node %d, the event stream's leader, stopped for %s", leader+1, sz.freeze)
	time.Sleep(sz.freeze)
	c.thaw(leader)
	thawed := time.Now()
	c.waitReplicated(js, 3*time.Minute)
	f.freezeRejoin = time.Since(thawed)
	if err := <-offered; err != nil {
		t.Fatalf("police could not go on offering while the leader was stopped: %v", err)
	}
	p.waitInboxDrained(t, r3, 5*time.Minute)
	f.checked(t, p.count(t), r3, sz.freezeHandoffs, "leader stopped")
	f.freezeHandoffs = sz.freezeHandoffs
	f.freezePause, began = r3.pause()
	f.freezePauseFrom = began.Sub(frozen)
	c.waitSame(t, 3*time.Minute)

	phase("two clocks")
	// 4. Two clock services keep the same clocks: each breach is published once.
	f.clockEpisodes, f.clockBreaches = sz.clockEpisodes, twoClocks(t, c, p, sz.clockEpisodes)

	phase("SPoA offline")
	// 5. SPoA is offline while handoffs are offered to it.
	p.stopSPoA()
	r5 := newRun("offline")
	start = time.Now()
	if err := p.offerMany(ctx, r5, 0, sz.offlineHandoffs, sz.workers, nil); err != nil {
		t.Fatalf("offer while SPoA is offline: %v", err)
	}
	if rest := sz.offline - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	f.offlineFor, f.offlineHandoffs = time.Since(start), sz.offlineHandoffs
	if n := countAcked(p.count(t), r5); n != 0 {
		t.Fatalf("%d offers were acknowledged while SPoA was offline", n)
	}
	start = time.Now()
	p.startSPoA(t)
	p.waitInboxDrained(t, r5, 30*time.Minute)
	f.offlineDrain = time.Since(start)
	end := p.count(t)
	f.checked(t, end, r5, sz.offlineHandoffs, "SPoA offline, then back")
	f.streamEventsAtEnd = end.events
	c.waitSame(t, 3*time.Minute)
	phase("done")
	return f
}

func countAcked(tl tally, r *run) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for hid := range r.offered {
		n += tl.acks[hid]
	}
	return n
}

// offers is how many handoffs the run offered.
func (r *run) offers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.offered)
}

// ackedSince counts the offers stored after t.
func (r *run) ackedSince(t time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.acked {
		if a.After(t) {
			n++
		}
	}
	return n
}

// waitSame waits until the three nodes hold the same event stream: the
// same last sequence, number of messages and bytes in each node's own
// store, and the same events, read from each node and hashed.
func (c *cluster) waitSame(t testing.TB, within time.Duration) {
	t.Helper()
	bustest.CheckFor(t, within, 500*time.Millisecond, func() error {
		var states []stored
		for i := range clustertest.Nodes {
			s, err := c.nodeState(i, natsbus.Stream)
			if err != nil {
				return err
			}
			states = append(states, s)
		}
		for i, s := range states[1:] {
			if s != states[0] {
				return fmt.Errorf("node 1 holds %+v, node %d %+v", states[0], i+2, s)
			}
		}
		return nil
	})
	var first string
	for i := range clustertest.Nodes {
		d, n, err := c.digest(i)
		if err != nil {
			t.Fatalf("read node %d: %v", i+1, err)
		}
		if i == 0 {
			first = d
			continue
		}
		if d != first {
			t.Errorf("node %d's %d events hash to %s, node 1's to %s", i+1, n, d, first)
		}
	}
}

var friday = time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC)

// twoClocks runs two instances of the clock service on the cluster over n
// detentions kept where they are, moves time past each permitted period and
// one repeat, and checks every warning and breach was published once. It
// returns the breaches counted.
func twoClocks(t testing.TB, c *cluster, p *pathway, n int) int {
	t.Helper()
	clk := fakeclock.New(friday)
	cfg := clock.Config{Now: clk.Now, Tick: 20 * time.Millisecond, S136: clock.Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}}
	var svcs []*clock.Service
	for range 2 {
		var s *clock.Service
		bustest.CheckFor(t, time.Minute, 500*time.Millisecond, func() error {
			var err error
			s, err = clock.Start(context.Background(), c.bus(events.Clock, nil), cfg)
			return err
		})
		t.Cleanup(s.Stop)
		svcs = append(svcs, s)
	}
	police := p.police.Bus
	var eps []string
	r := newRun("clock")
	for i := range n {
		ep := r.episodeID(i)
		eps = append(eps, ep)
		e, err := events.New(events.Police, ep, &events.S136Detained{DetainedAt: friday, LocationType: "public_place",
			AgeYears: 30, KeptWhereTheyAre: true, Consulted: true}, events.At(friday), events.By("PC 4471"),
			events.WithID(record.DeterministicID("detained/"+ep)))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.retry(context.Background(), func(ctx context.Context) error { _, err := police.Publish(ctx, e); return err }); err != nil {
			t.Fatal(err)
		}
	}
	bustest.CheckFor(t, 2*time.Minute, 20*time.Millisecond, func() error {
		for i, s := range svcs {
			if s.Live() < n {
				return fmt.Errorf("clock service %d holds %d clocks, want %d", i+1, s.Live(), n)
			}
		}
		return nil
	})
	// Time moves on an hour at a time; each hour's alarms are stored before
	// the next (in real time the services have the hour to publish them).
	due := friday.Add(24 * time.Hour)
	var tl tally
	for _, step := range []struct {
		at   time.Time
		want func(ep string) []int
	}{
		{due.Add(-time.Hour), func(ep string) []int { return []int{tl.warnings[ep+"/s136"]} }},
		{due, func(ep string) []int { return []int{tl.breaches[ep+"/s136/0"]} }},
		{due.Add(time.Hour), func(ep string) []int { return []int{tl.breaches[ep+"/s136/1"]} }},
	} {
		clk.Set(step.at)
		bustest.CheckFor(t, 2*time.Minute, 250*time.Millisecond, func() error {
			for i, s := range svcs {
				if s.ScannedThrough().Before(step.at) {
					return fmt.Errorf("clock service %d has not scanned through %s", i+1, step.at)
				}
			}
			tl = p.count(t)
			for _, ep := range eps {
				if step.want(ep)[0] == 0 {
					return fmt.Errorf("at %s, no alarm for episode %s yet", step.at, ep)
				}
			}
			return nil
		})
	}
	tl = p.count(t)
	breaches := 0
	for _, ep := range eps {
		for _, k := range []string{ep + "/s136/0", ep + "/s136/1"} {
			if tl.breaches[k] != 1 {
				t.Errorf("breach %s published %d times, want once", k, tl.breaches[k])
			}
			breaches += tl.breaches[k]
		}
		if tl.warnings[ep+"/s136"] != 1 {
			t.Errorf("warning for %s published %d times, want once", ep, tl.warnings[ep+"/s136"])
		}
	}
	for _, s := range svcs {
		s.Stop()
	}
	return breaches
}
