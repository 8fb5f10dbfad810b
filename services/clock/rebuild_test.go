package clock_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/fakeclock"
	"github.com/crisisbus/crisisbus/services/clock"
)

// forgetRepeatsAfter shortens the event stream's duplicate window, a day
// in crisisbus, to d: a clock that published again an id it used more
// than d before has it stored, on the episode's timeline, as it would a
// day after in production.
func (w *world) forgetRepeatsAfter(d time.Duration) {
	w.t.Helper()
	st, err := w.admin.Stream(w.t.Context(), natsbus.Stream)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Duplicates = d
	if _, err := w.admin.UpdateStream(w.t.Context(), cfg); err != nil {
		w.t.Fatalf("shorten the duplicate window: %v", err)
	}
}

// said waits until the clock's log has an error line containing each of words.
func said(t *testing.T, logs *observer.ObservedLogs, words ...string) observer.LoggedEntry {
	t.Helper()
	var line observer.LoggedEntry
	bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
	lines:
		for _, l := range logs.FilterLevelExact(zapcore.ErrorLevel).All() {
			for _, w := range words {
				if !strings.Contains(l.Message, w) {
					continue lines
				}
			}
			line = l
			return nil
		}
		return fmt.Errorf("no error in the clock's log says %q", words)
	})
	return line
}

func detainKept(w *world, ep string, at time.Time) {
	w.emit(events.Police, ep, at, &events.S136Detained{DetainedAt: at, LocationType: "public_place",
		AgeYears: 41, KeptWhereTheyAre: true, Consulted: true}, events.By("PC 4471"))
}

// The clocks' bucket is deleted on the NATS server under the running clock
// service (a NATS tool, a mistyped command), with four episodes' clocks in
// it: a detention warned of, one breached and then released, one whose
// warning falls due while the bucket is gone, and a handoff accepted in
// time. The service says so at error level, waits for the admin to
// provision the bucket, rebuilds the clocks from the event stream and says
// how many; then every warning and breach comes once at its time, none
// already published comes again, and the stopped clocks stay stopped.
func TestAClockBucketDeletedUnderTheRunningClockIsRebuiltFromTheStreamPublishingNothingTwice(t *testing.T) {
	clk := fakeclock.New(friday)
	core, logs := observer.New(zap.WarnLevel)
	w := &world{t: t, clk: clk, cfg: clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}},
		buses: map[events.Agency]*natsbus.Bus{}, log: zap.New(core)}
	w.start("")
	const forgets = time.Second
	w.forgetRepeatsAfter(forgets)
	h := func(n time.Duration) time.Time { return friday.Add(n * time.Hour) }

	warned, released, meanwhile, handedOver := events.NewEpisodeID(), events.NewEpisodeID(), events.NewEpisodeID(), events.NewEpisodeID()
	detainKept(w, released, h(0))    // due h(24)
	detain(w, warned, 34, false)     // at h(0), then at the suite:
	arriveAtSuite(w, warned, h(3))   // due h(27)
	detainKept(w, meanwhile, h(4))   // due h(28), warned at h(26)
	handoff := events.NewEpisodeID() // an MHA assessment accepted in 10 minutes
	w.emit(events.Police, handedOver, h(0), &events.HandoffOffered{HandoffID: handoff, Kind: events.MHAAssessment, To: events.AMHP,
		Reason: "detained under s136", Urgency: "emergency", Summary: events.Summary{Facts: []events.Fact{}}})
	w.emit(events.AMHP, handedOver, h(0).Add(10*time.Minute), &events.HandoffAccepted{HandoffID: handoff, AcceptedBy: "AMHP J. Osei"}, events.To(events.Police))
	w.waitDue(warned, events.S136Clock, warned, h(27))
	w.waitDue(meanwhile, events.S136Clock, meanwhile, h(28))
	w.waitStopped(handedOver, events.HandoffAcceptClock)

	w.advanceTo(h(22))
	w.advanceTo(h(24))
	w.emit(events.AMHP, released, h(24).Add(30*time.Minute), &events.S136Released{ReleasedAt: h(24).Add(30 * time.Minute), Reason: "assessed, not detained further"})
	w.waitStopped(released, events.S136Clock)
	w.advanceTo(h(25))
	releasedAlarms := []string{"warning s136 amhp at " + at(h(22)) + " (7200s left)", "breach s136 amhp at " + at(h(24)) + " (0s over, repeat 0)"}
	w.wantAlarms(released, releasedAlarms...)
	w.wantAlarms(warned, "warning s136 amhp at "+at(h(25))+" (7200s left)")
	time.Sleep(forgets + 500*time.Millisecond) // the stream no longer drops those ids as repeats

	if err := w.admin.DeleteKeyValue(t.Context(), rights.ClocksBucket); err != nil {
		t.Fatalf("delete the clocks' bucket: %v", err)
	}
	said(t, logs, "bucket", "gone")
	// Nobody provisions the bucket for a while; the detention's warning
	// falls due meanwhile.
	clk.Set(h(26))
	said(t, logs, "waiting for the clocks' bucket to be provisioned again")
	if err := rights.ProvisionBucket(t.Context(), w.admin, rights.ClocksBucket, 1); err != nil {
		t.Fatalf("provision the clocks' bucket again: %v", err)
	}
	line := said(t, logs, "made again and its clocks rebuilt")
	want := map[string]int64{"episodes": 4, "clocks": 5, "running": 2, "already_published": 3, "late_breaches_published": 0}
	for k, v := range want {
		if got, ok := line.ContextMap()[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Errorf("the rebuild's log line says %s=%v, want %d: %v", k, got, v, line.ContextMap())
		}
	}

	w.advanceTo(h(26))
	w.advanceTo(h(27))
	w.advanceTo(h(27).Add(59 * time.Minute))
	w.wantAlarms(meanwhile, "warning s136 amhp at "+at(h(26))+" (7200s left)")
	w.wantAlarms(warned, "warning s136 amhp at "+at(h(25))+" (7200s left)", "breach s136 amhp at "+at(h(27))+" (0s over, repeat 0)")
	w.wantAlarms(released, releasedAlarms...)
	w.wantAlarms(handedOver)
	if l := w.svc.Live(); l != 2 {
		t.Errorf("the clock keeps %d running clocks, want the 2 detentions not yet ended", l)
	}
}

// The clocks' bucket is lost while the clock service is stopped and
// provisioned again, empty, as `crisisbus up` does at start: the service
// rebuilds the clocks at start, so the detention still breaches once, and
// its warning is not published again.
func TestAClockBucketLostWhileTheClockWasStoppedIsRebuiltAtStart(t *testing.T) {
	clk := fakeclock.New(friday)
	core, logs := observer.New(zap.WarnLevel)
	cfg := clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}}
	w := &world{t: t, clk: clk, cfg: cfg, buses: map[events.Agency]*natsbus.Bus{}, log: zap.New(core)}
	w.start("")
	const forgets = time.Second
	w.forgetRepeatsAfter(forgets)
	ep := events.NewEpisodeID()
	detainKept(w, ep, friday)
	due := friday.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)
	w.advanceTo(due.Add(-2 * time.Hour))
	warning := "warning s136 amhp at " + at(due.Add(-2*time.Hour)) + " (7200s left)"
	w.wantAlarms(ep, warning)
	time.Sleep(forgets + 500*time.Millisecond) // the stream no longer drops that id as a repeat

	w.svc.Stop()
	if err := w.admin.DeleteKeyValue(t.Context(), rights.ClocksBucket); err != nil {
		t.Fatalf("delete the clocks' bucket: %v", err)
	}
	if err := rights.ProvisionBucket(t.Context(), w.admin, rights.ClocksBucket, 1); err != nil {
		t.Fatalf("provision the clocks' bucket again: %v", err)
	}
	cfg.Now, cfg.Tick = clk.Now, 5*time.Millisecond
	svc, err := clock.Start(t.Context(), w.buses[events.Clock], cfg)
	if err != nil {
		t.Fatalf("start the clock service again: %v", err)
	}
	w.svc = svc
	said(t, logs, "bucket", "empty", "provisioned again")
	said(t, logs, "made again and its clocks rebuilt")
	w.advanceTo(due.Add(-time.Hour))
	w.advanceTo(due)
	w.advanceTo(due.Add(59 * time.Minute))
	w.wantAlarms(ep, warning, "breach s136 amhp at "+at(due)+" (0s over, repeat 0)")
}

// The clock service is killed part-way through rebuilding a lost bucket:
// one episode's clocks are back, the others' not yet. At its next start
// the bucket is not empty, but the rebuild never finished, so it rebuilds
// again: each detention still breaches once at its time, and no warning
// already published is published again.
func TestAClockKilledPartWayThroughARebuildRebuildsAgainAtStart(t *testing.T) {
	clk := fakeclock.New(friday)
	core, logs := observer.New(zap.WarnLevel)
	cfg := clock.Config{Workers: 1, S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}}
	w := &world{t: t, clk: clk, cfg: cfg, buses: map[events.Agency]*natsbus.Bus{}, log: zap.New(core)}
	w.start("")
	const forgets = time.Second
	w.forgetRepeatsAfter(forgets)
	eps := []string{events.NewEpisodeID(), events.NewEpisodeID(), events.NewEpisodeID()}
	due := friday.Add(24 * time.Hour)
	for _, ep := range eps {
		detainKept(w, ep, friday)
	}
	for _, ep := range eps {
		w.waitDue(ep, events.S136Clock, ep, due)
	}
	w.advanceTo(due.Add(-2 * time.Hour))
	warning := "warning s136 amhp at " + at(due.Add(-2*time.Hour)) + " (7200s left)"
	for _, ep := range eps {
		w.wantAlarms(ep, warning)
	}
	time.Sleep(forgets + 500*time.Millisecond) // the stream no longer drops those ids as repeats

	// The first rebuild stops for good after its first episode, as a
	// process killed there would.
	var mu sync.Mutex
	reached := map[string]bool{}
	stopped := make(chan struct{})
	w.svc.AfterEpisodeRebuilt(func(ctx context.Context, ep string) {
		mu.Lock()
		reached[ep] = true
		first := len(reached) == 1
		mu.Unlock()
		if first {
			close(stopped)
		}
		<-ctx.Done()
	})
	if err := w.admin.DeleteKeyValue(t.Context(), rights.ClocksBucket); err != nil {
		t.Fatalf("delete the clocks' bucket: %v", err)
	}
	said(t, logs, "bucket", "gone")
	if err := rights.ProvisionBucket(t.Context(), w.admin, rights.ClocksBucket, 1); err != nil {
		t.Fatalf("provision the clocks' bucket again: %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the rebuild never read an episode")
	}
	w.svc.Stop()
	mu.Lock()
	var left []string
	for _, ep := range eps {
		if !reached[ep] {
			left = append(left, ep)
		}
	}
	mu.Unlock()
	if len(left) == 0 {
		t.Fatal("the first rebuild read every episode before it was stopped")
	}

	cfg.Now, cfg.Tick = clk.Now, 5*time.Millisecond
	svc, err := clock.Start(t.Context(), w.buses[events.Clock], cfg)
	if err != nil {
		t.Fatalf("start the clock service again: %v", err)
	}
	w.svc = svc
	said(t, logs, "rebuild", "did not finish")
	said(t, logs, "made again and its clocks rebuilt")
	w.advanceTo(due.Add(-time.Hour))
	for _, ep := range eps {
		w.wantAlarms(ep, warning)
	}
	w.advanceTo(due)
	w.advanceTo(due.Add(59 * time.Minute))
	breach := "breach s136 amhp at " + at(due) + " (0s over, repeat 0)"
	for _, ep := range left {
		w.wantAlarms(ep, warning, breach) // an episode the first rebuild had not reached
	}
	for _, ep := range eps {
		w.wantAlarms(ep, warning, breach)
	}
}

// A fact delivered to the clock while its bucket is lost, and nobody has
// provisioned it yet, waits in place; the clock's consumer says why in
// those words, not that the store is full or stopped or that a server did
// not answer (the store and the servers are fine).
func TestAFactWaitingForALostClocksBucketIsLoggedAsWaitingForIt(t *testing.T) {
	clk := fakeclock.New(friday)
	core, logs := observer.New(zap.WarnLevel)
	w := &world{t: t, clk: clk, cfg: clock.Config{}, buses: map[events.Agency]*natsbus.Bus{}, log: zap.New(core)}
	w.start("")
	if err := w.admin.DeleteKeyValue(t.Context(), rights.ClocksBucket); err != nil {
		t.Fatalf("delete the clocks' bucket: %v", err)
	}
	ep := events.NewEpisodeID()
	detainKept(w, ep, friday)
	var failed []observer.LoggedEntry
	bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		failed = logs.FilterMessageSnippet("handler failed").FilterField(zap.String("episode", ep)).All()
		if len(failed) < 2 {
			return fmt.Errorf("%d failures of the detention's delivery logged, want 2", len(failed))
		}
		return nil
	})
	for _, l := range failed {
		if want := "the clocks' bucket crisis_clocks was lost"; !strings.Contains(l.Message, want) {
			t.Errorf("the clock's consumer logs %q (cause %q), want it to say %q", l.Message, l.ContextMap()["cause"], want)
		}
	}
}

// `crisisbus up` holds the admin's credentials: its clock service has its
// lost bucket made again by itself, and the breach still comes.
func TestCrisisbusUpMakesTheClocksBucketAgainWhenItIsLost(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	clk, admin, ep := detainedUnderUp(t, zap.New(core))
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		kv, err := admin.JetStream().KeyValue(t.Context(), rights.ClocksBucket)
		if err != nil {
			return err
		}
		_, err = kv.Get(t.Context(), clock.S136Key(ep))
		return err
	})
	if err := admin.JetStream().DeleteKeyValue(t.Context(), rights.ClocksBucket); err != nil {
		t.Fatalf("delete the clocks' bucket: %v", err)
	}
	said(t, logs, "made again and its clocks rebuilt")
	clk.Set(friday.Add(24 * time.Hour))
	breachStoredOnce(t, admin, ep)
}
