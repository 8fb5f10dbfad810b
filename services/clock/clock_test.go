package clock_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/fakeclock"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/clock"
)

// Friday 20 November 2026, 01:30: PC 4471 detains a man on Rochester bridge.
var friday = time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC)

// world is one running crisisbus as the clock sees it: an embedded NATS on
// disk, the agencies' buses, the clock service on a fake clock.
type world struct {
	t      *testing.T
	b      *broker.Broker
	clk    *fakeclock.Clock
	cfg    clock.Config
	svc    *clock.Service
	buses  map[events.Agency]*natsbus.Bus
	admin  jetstream.JetStream
	closer []func()
	log    *zap.Logger // the clock service's, when a test reads it
}

func newWorld(t *testing.T, dir string, clk *fakeclock.Clock, cfg clock.Config) *world {
	t.Helper()
	w := &world{t: t, clk: clk, cfg: cfg, buses: map[events.Agency]*natsbus.Bus{}}
	w.start(dir)
	return w
}

// start starts the server on dir and every process the test needs.
func (w *world) start(dir string) {
	w.t.Helper()
	w.b = bustest.Start(w.t, dir)
	w.t.Cleanup(w.stop) // before the server's own cleanup shuts it down
	for _, a := range []events.Agency{events.Police, events.AMHP, events.Crisisline, events.Clock} {
		nc, err := w.b.Connect(a)
		if err != nil {
			w.t.Fatal(err)
		}
		w.closer = append(w.closer, nc.Close)
		log := bustest.Logger()
		if a == events.Clock && w.log != nil {
			log = w.log
		}
		bus, err := natsbus.NewBus(nc, a, log)
		if err != nil {
			w.t.Fatal(err)
		}
		w.buses[a] = bus
	}
	nc, err := w.b.Connect("")
	if err != nil {
		w.t.Fatal(err)
	}
	w.closer = append(w.closer, nc.Close)
	if w.admin, err = natsbus.NewJetStream(nc); err != nil {
		w.t.Fatal(err)
	}
	cfg := w.cfg
	cfg.Now, cfg.Tick = w.clk.Now, 5*time.Millisecond
	if w.svc, err = clock.Start(w.t.Context(), w.buses[events.Clock], cfg); err != nil {
		w.t.Fatalf("start clock service: %v", err)
	}
}

// stop stops every process and the NATS server, as a power cut would.
func (w *world) stop() {
	if w.svc != nil {
		w.svc.Stop()
		w.svc = nil
	}
	for _, c := range w.closer {
		c()
	}
	w.closer = nil
	if w.b != nil {
		w.b.Shutdown()
		w.b = nil
	}
}

func (w *world) emit(a events.Agency, episode string, at time.Time, data any, opts ...events.Option) events.Event {
	w.t.Helper()
	e, _, err := w.buses[a].Emit(w.t.Context(), episode, data, append([]events.Option{events.At(at)}, opts...)...)
	if err != nil {
		w.t.Fatalf("%s publishes %T: %v", a, data, err)
	}
	return e
}

// advanceTo moves the fake clock to at and waits until the service has
// published everything due by then.
func (w *world) advanceTo(at time.Time) {
	w.t.Helper()
	w.clk.Set(at)
	bustest.CheckFor(w.t, 10*time.Second, 2*time.Millisecond, func() error {
		if got := w.svc.ScannedThrough(); got.Before(at) {
			return fmt.Errorf("clock service has scanned through %s, want %s", got, at)
		}
		return nil
	})
}

// liveTo is advanceTo on a live bus: another episode has a fact at t, so
// the facts the clock has handled are as recent as now and no clock is held
// back as history being imported (a clock written while the episode's facts
// were read again, before it was judged, is marked late).
func (w *world) liveTo(t time.Time) {
	w.t.Helper()
	w.emit(events.AMHP, events.NewEpisodeID(), t, &events.HandoffAcknowledged{HandoffID: events.NewEpisodeID()}, events.To(events.Police))
	w.handled() // before the time moves: no scan at t sees the facts handled through less
	w.advanceTo(t)
}

// waitDue waits until the service holds the episode's clock of that kind
// due at want (the events that set it have been handled).
func (w *world) waitDue(episode string, kind events.ClockKind, ref string, want time.Time) {
	w.t.Helper()
	bustest.CheckFor(w.t, 10*time.Second, 5*time.Millisecond, func() error {
		cs, err := w.svc.Clocks(w.t.Context(), episode)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Kind == kind && (ref == "" || c.Ref == ref) {
				if !c.DueAt.Equal(want) {
					return fmt.Errorf("%s clock due %s, want %s", kind, c.DueAt, want)
				}
				return nil
			}
		}
		return fmt.Errorf("no %s clock for episode %s yet", kind, episode)
	})
}

// handled waits until the clock service has handled every event published.
func (w *world) handled() {
	w.t.Helper()
	bustest.CheckFor(w.t, 10*time.Second, 5*time.Millisecond, func() error {
		c, err := w.admin.Consumer(w.t.Context(), natsbus.Stream, "clock")
		if err != nil {
			return err
		}
		info, err := c.Info(w.t.Context())
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("clock service has %d events to handle and %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

// waitStopped waits until the episode's clocks of that kind have all stopped.
func (w *world) waitStopped(episode string, kind events.ClockKind) {
	w.t.Helper()
	bustest.CheckFor(w.t, 10*time.Second, 5*time.Millisecond, func() error {
		cs, err := w.svc.Clocks(w.t.Context(), episode)
		if err != nil {
			return err
		}
		for k, c := range cs {
			if c.Kind == kind && c.Running() {
				return fmt.Errorf("clock %s still running", k)
			}
		}
		return nil
	})
}

// alarm is a clock event as stored in the stream, decoded.
type alarm struct {
	id      string
	at      time.Time
	warning *events.ClockWarning
	breach  *events.ClockBreached
}

func (a alarm) String() string {
	if a.warning != nil {
		return fmt.Sprintf("warning %s %s at %s (%ds left)", a.warning.Clock, a.warning.Owner, a.at.Format(time.DateTime), a.warning.SecondsLeft)
	}
	return fmt.Sprintf("breach %s %s at %s (%ds over, repeat %d)", a.breach.Clock, a.breach.Owner, a.at.Format(time.DateTime), a.breach.SecondsOver, a.breach.Repeat)
}

// alarms reads every clock event stored for the episode, in stream order:
// what the episode record shows.
func (w *world) alarms(episode string) []alarm {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), 10*time.Second)
	defer cancel()
	cons, err := w.admin.OrderedConsumer(ctx, natsbus.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.EpisodeSubjects(episode)}})
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []alarm
	if info.NumPending == 0 {
		return nil
	}
	batch, err := cons.Fetch(int(info.NumPending), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		w.t.Fatal(err)
	}
	for m := range batch.Messages() {
		e, err := events.Parse(m.Data())
		if err != nil {
			w.t.Fatalf("stored event does not meet the contract: %v", err)
		}
		if e.Source != events.Clock {
			continue
		}
		a := alarm{id: e.ID, at: e.Time}
		v, err := e.Decode()
		if err != nil {
			w.t.Fatal(err)
		}
		switch d := v.(type) {
		case *events.ClockWarning:
			a.warning = d
		case *events.ClockBreached:
			a.breach = d
		}
		out = append(out, a)
	}
	return out
}

func (w *world) wantAlarms(episode string, want ...string) {
	w.t.Helper()
	got := w.alarms(episode)
	var gs []string
	for _, a := range got {
		gs = append(gs, a.String())
	}
	if strings.Join(gs, "\n") != strings.Join(want, "\n") {
		w.t.Fatalf("alarms in the episode record:\n  %s\nwant:\n  %s", strings.Join(gs, "\n  "), strings.Join(want, "\n  "))
	}
}

func at(t time.Time) string { return t.Format(time.DateTime) }

func contactRefOf(ep string, n int) string { return fmt.Sprintf("%s/followup/contact-%d", ep, n) }

func detain(w *world, ep string, age int, kept bool) {
	w.emit(events.Police, ep, friday, &events.S136Detained{DetainedAt: friday, LocationType: "public_place",
		AgeYears: age, KeptWhereTheyAre: kept, Consulted: true}, events.By("PC 4471"))
}

func arriveAtSuite(w *world, ep string, arrived time.Time) {
	w.emit(events.Police, ep, arrived, &events.PlaceOfSafetyArrived{ArrivedAt: arrived,
		PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite, Little Brook Hospital, Dartford"})
}

func TestS136DetentionWarnsAtLeadTimeAndBreachesOnceAt24HoursFromArrival(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}})
	ep := events.NewEpisodeID()

	detain(w, ep, 34, false)
	arrived := friday.Add(50 * time.Minute) // the drive to Dartford
	arriveAtSuite(w, ep, arrived)
	due := arrived.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due) // from arrival, not from detention

	w.advanceTo(due.Add(-2*time.Hour - time.Second))
	w.wantAlarms(ep)

	w.advanceTo(due.Add(-2 * time.Hour))
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-2*time.Hour))+" (7200s left)")

	w.advanceTo(due.Add(-time.Second))
	w.advanceTo(due)
	breach := "breach s136 amhp at " + at(due) + " (0s over, repeat 0)"
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-2*time.Hour))+" (7200s left)", breach)

	// Exactly once: more scans before the repeat interval publish nothing.
	w.advanceTo(due.Add(30 * time.Minute))
	w.advanceTo(due.Add(59 * time.Minute))
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-2*time.Hour))+" (7200s left)", breach)

	// Still detained an hour over: the breach is escalated again.
	w.advanceTo(due.Add(time.Hour))
	repeat := "breach s136 amhp at " + at(due.Add(time.Hour)) + " (3600s over, repeat 1)"
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-2*time.Hour))+" (7200s left)", breach, repeat)

	// The assessment concludes: the clock stops and the escalation with it.
	w.emit(events.AMHP, ep, due.Add(70*time.Minute), &events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: due.Add(70 * time.Minute)})
	w.waitStopped(ep, events.S136Clock)
	w.advanceTo(due.Add(3 * time.Hour))
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-2*time.Hour))+" (7200s left)", breach, repeat)
}

func TestS136ExtensionByTheDoctorBeforeExpiryMovesTheBreachTo36Hours(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}})
	ep := events.NewEpisodeID()

	detain(w, ep, 34, true) // kept where they are, in A&E: the period starts at the decision
	w.waitDue(ep, events.S136Clock, ep, friday.Add(24*time.Hour))
	w.advanceTo(friday.Add(22 * time.Hour))
	warn24 := "warning s136 amhp at " + at(friday.Add(22*time.Hour)) + " (7200s left)"
	w.wantAlarms(ep, warn24)

	// 23:00 into the period the man is still too intoxicated to be assessed.
	extendedAt := friday.Add(23 * time.Hour)
	w.clk.Set(extendedAt)
	w.emit(events.AMHP, ep, extendedAt, &events.S136Extended{Hours: 12, Doctor: "Dr A. Okafor (s12 approved)",
		Reason: "too intoxicated to be assessed; assessment impracticable within 24 hours", ExtendedAt: extendedAt})
	w.waitDue(ep, events.S136Clock, ep, friday.Add(36*time.Hour))

	w.advanceTo(friday.Add(24 * time.Hour))
	w.advanceTo(friday.Add(30 * time.Hour))
	w.wantAlarms(ep, warn24) // no breach at 24h: the period was lawfully extended

	w.advanceTo(friday.Add(34 * time.Hour))
	warn36 := "warning s136 amhp at " + at(friday.Add(34*time.Hour)) + " (7200s left)"
	w.wantAlarms(ep, warn24, warn36)
	w.advanceTo(friday.Add(36*time.Hour - time.Second))
	w.wantAlarms(ep, warn24, warn36)
	w.advanceTo(friday.Add(36 * time.Hour))
	w.wantAlarms(ep, warn24, warn36, "breach s136 amhp at "+at(friday.Add(36*time.Hour))+" (0s over, repeat 0)")
}

func TestS136ExtensionAfterExpiryDoesNotMoveTheBreach(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: time.Hour, RepeatEvery: 0}})
	ep := events.NewEpisodeID()
	detain(w, ep, 34, true)
	due := friday.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)
	w.advanceTo(due.Add(-time.Hour))
	w.advanceTo(due)
	late := due.Add(10 * time.Minute)
	w.clk.Set(late)
	w.emit(events.AMHP, ep, late, &events.S136Extended{Hours: 12, Doctor: "Dr A. Okafor",
		Reason: "still intoxicated", ExtendedAt: late})
	w.handled()
	w.waitDue(ep, events.S136Clock, ep, due) // the law refuses an extension after expiry
	w.advanceTo(due.Add(12 * time.Hour))
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-time.Hour))+" (3600s left)",
		"breach s136 amhp at "+at(due)+" (0s over, repeat 0)")
}

// An extension the Act refuses is logged for the operator as an error once,
// when it arrives, not again each time the clock reads the episode's facts
// before judging it (hourly, while the breach repeats).
func TestAnUnlawfulExtensionIsLoggedOnceNotAtEveryJudgement(t *testing.T) {
	clk := fakeclock.New(friday)
	core, logs := observer.New(zap.DebugLevel)
	w := &world{t: t, clk: clk, cfg: clock.Config{S136: clock.Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}},
		buses: map[events.Agency]*natsbus.Bus{}, log: zap.New(core)}
	w.start("")
	ep := events.NewEpisodeID()
	detain(w, ep, 34, true)
	due := friday.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)
	w.advanceTo(due.Add(-time.Hour))
	w.advanceTo(due)
	late := due.Add(10 * time.Minute)
	w.clk.Set(late)
	w.emit(events.AMHP, ep, late, &events.S136Extended{Hours: 12, Doctor: "Dr A. Okafor", Reason: "still intoxicated", ExtendedAt: late})
	w.handled()
	for h := 1; h <= 2; h++ {
		w.advanceTo(due.Add(time.Duration(h) * time.Hour))
	}
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-time.Hour))+" (3600s left)",
		"breach s136 amhp at "+at(due)+" (0s over, repeat 0)",
		"breach s136 amhp at "+at(due.Add(time.Hour))+" (3600s over, repeat 1)",
		"breach s136 amhp at "+at(due.Add(2*time.Hour))+" (7200s over, repeat 2)")
	msg := "s136 extension not applied: the clock keeps the permitted period"
	if errs, all := logs.FilterMessage(msg).FilterLevelExact(zap.ErrorLevel).Len(), logs.FilterMessage(msg).Len(); errs != 1 || all < 2 {
		t.Fatalf("the refused extension was logged as an error %d times (%d lines in all), want once, then as debug when the facts are read again", errs, all)
	}
}

// A man released after his first s136 detention is detained again two days
// later in the same episode. Each time the clock is judged it reads the
// episode's facts again, the first detention's among them: they must not
// walk the second detention's clock back through the first (its arrival,
// its release) and start its breaches again at repeat 0, whose ids the
// stream has already seen and drops: the escalation would go silent after
// the first breach.
func TestASecondDetentionInTheSameEpisodeKeepsEscalating(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}})
	ep := events.NewEpisodeID()

	// First detention: at the suite for five hours, then released in time.
	detain(w, ep, 34, false)
	a1 := friday.Add(30 * time.Minute)
	arriveAtSuite(w, ep, a1)
	w.waitDue(ep, events.S136Clock, ep, a1.Add(24*time.Hour))
	r1 := friday.Add(5 * time.Hour)
	clk.Set(r1)
	w.emit(events.Police, ep, r1, &events.S136Released{ReleasedAt: r1, Reason: "no mental disorder found"})
	w.waitStopped(ep, events.S136Clock)

	// Two days later, detained again; this time nobody records an end.
	t2 := friday.Add(48 * time.Hour)
	clk.Set(t2)
	w.emit(events.Police, ep, t2, &events.S136Detained{DetainedAt: t2, LocationType: "public_place",
		AgeYears: 34, Consulted: true}, events.By("PC 4471"))
	a2 := t2.Add(40 * time.Minute)
	arriveAtSuite(w, ep, a2)
	due := a2.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)

	for _, h := range []time.Duration{-2, 0, 1, 2, 3, 4} {
		w.liveTo(due.Add(h * time.Hour))
	}
	w.wantAlarms(ep,
		"warning s136 amhp at "+at(due.Add(-2*time.Hour))+" (7200s left)",
		"breach s136 amhp at "+at(due)+" (0s over, repeat 0)",
		"breach s136 amhp at "+at(due.Add(time.Hour))+" (3600s over, repeat 1)",
		"breach s136 amhp at "+at(due.Add(2*time.Hour))+" (7200s over, repeat 2)",
		"breach s136 amhp at "+at(due.Add(4*time.Hour))+" (14400s over, repeat 3)")
	cs, err := w.svc.Clocks(t.Context(), ep)
	if err != nil {
		t.Fatal(err)
	}
	if c := cs[clock.S136Key(ep)]; !c.Detention.DetainedAt.Equal(t2) || !c.Detention.ArrivedAt.Equal(a2) || !c.Running() {
		t.Fatalf("the s136 clock keeps %+v (running %v), want the second detention, running", *c.Detention, c.Running())
	}
}

// The helpline moves the second call twice; nobody makes it. The clock
// reads the episode again before each judgement and so passes through the
// earlier due times; coming back to the last, it goes on from where it was.
func TestACallRescheduledTwiceAndMissedKeepsEscalating(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{FollowUp: clock.FollowUpTimes{
		Contacts: []time.Duration{24 * time.Hour, 48 * time.Hour},
		Grace:    time.Hour,
		Timing:   clock.Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}}})
	ep := events.NewEpisodeID()
	handoff := events.NewEpisodeID()
	w.emit(events.AMHP, ep, friday, &events.HandoffOffered{HandoffID: handoff, Kind: events.FollowUp, To: events.Crisisline,
		Reason: "assessed under s136, not detained", Urgency: "urgent", Summary: events.Summary{Facts: []events.Fact{}}})
	w.emit(events.Crisisline, ep, friday.Add(time.Minute), &events.HandoffAccepted{HandoffID: handoff, AcceptedBy: "Helpline T. Ward"}, events.To(events.AMHP))
	w.emit(events.Crisisline, ep, friday.Add(2*time.Minute), &events.FollowupContactAttempted{ContactNumber: 1, Outcome: "spoke"})
	for _, h := range []time.Duration{50, 54} {
		w.emit(events.Crisisline, ep, friday.Add(3*time.Minute), &events.FollowupContactScheduled{ContactNumber: 2, DueAt: friday.Add(h * time.Hour)})
	}
	due := friday.Add(55 * time.Hour)
	w.waitDue(ep, events.FollowUpClock, contactRefOf(ep, 2), due)
	for h := range 5 {
		w.liveTo(due.Add(time.Duration(h) * time.Hour))
	}
	w.wantAlarms(ep,
		"breach followup_contact crisisline at "+at(due)+" (0s over, repeat 0)",
		"breach followup_contact crisisline at "+at(due.Add(time.Hour))+" (3600s over, repeat 1)",
		"breach followup_contact crisisline at "+at(due.Add(2*time.Hour))+" (7200s over, repeat 2)",
		"breach followup_contact crisisline at "+at(due.Add(4*time.Hour))+" (14400s over, repeat 3)")
}

func TestBreachFiresOnceAndOnTimeAcrossARestartOfEveryProcessAndTheServer(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(friday)
	cfg := clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}}
	w := newWorld(t, dir, clk, cfg)
	ep := events.NewEpisodeID()
	detain(w, ep, 34, false)
	arrived := friday.Add(40 * time.Minute)
	arriveAtSuite(w, ep, arrived)
	due := arrived.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)
	w.advanceTo(due.Add(-2 * time.Hour))
	warning := "warning s136 amhp at " + at(due.Add(-2*time.Hour)) + " (7200s left)"
	w.wantAlarms(ep, warning)

	// Between warning and breach: everything stops, the server included.
	w.stop()
	clk.Set(due.Add(-time.Hour))
	w.start(dir)
	if w.svc.Live() != 1 {
		t.Fatalf("after restart the clock service holds %d live clocks, want the one s136 clock", w.svc.Live())
	}
	w.advanceTo(due.Add(-time.Second))
	w.wantAlarms(ep, warning) // the warning is not repeated
	w.advanceTo(due)
	breach := "breach s136 amhp at " + at(due) + " (0s over, repeat 0)"
	w.wantAlarms(ep, warning, breach)

	// And again after the breach: no second breach for the same moment.
	w.stop()
	w.start(dir)
	w.advanceTo(due.Add(59 * time.Minute))
	w.wantAlarms(ep, warning, breach)
}

func TestBreachesWhileEverythingWasDownArePublishedOnRestartWithTheTimeOver(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(friday)
	w := newWorld(t, dir, clk, clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}})
	ep := events.NewEpisodeID()
	detain(w, ep, 34, true)
	due := friday.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)
	w.advanceTo(due.Add(-3 * time.Hour))
	w.stop()
	// Down for four hours across the deadline: nothing is lost.
	clk.Set(due.Add(time.Hour + 5*time.Minute))
	w.start(dir)
	w.advanceTo(due.Add(time.Hour + 5*time.Minute))
	w.wantAlarms(ep, "breach s136 amhp at "+at(due.Add(time.Hour+5*time.Minute))+" (3900s over, repeat 0)")
	w.advanceTo(due.Add(2 * time.Hour))
	w.wantAlarms(ep, "breach s136 amhp at "+at(due.Add(time.Hour+5*time.Minute))+" (3900s over, repeat 0)",
		"breach s136 amhp at "+at(due.Add(2*time.Hour))+" (7200s over, repeat 1)")
}

func TestAdultHeldInAPoliceStationGetsAWelfareCheckClock(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{Welfare: clock.Timing{WarnBefore: 5 * time.Minute, RepeatEvery: 10 * time.Minute}})
	ep := events.NewEpisodeID()
	detain(w, ep, 41, false)
	arrived := friday.Add(20 * time.Minute)
	w.emit(events.Police, ep, arrived, &events.PlaceOfSafetyArrived{ArrivedAt: arrived, PlaceType: events.PoliceStation,
		PlaceName: "Medway police station", PoliceStation: &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true,
			NoOtherPlaceAvailable: true, InspectorAuthorisation: "Insp. K. Bell", HealthProfessionalConsulted: true}})
	w.waitDue(ep, events.WelfareCheckClock, ep, arrived.Add(30*time.Minute))

	checked := arrived.Add(28 * time.Minute)
	w.emit(events.Police, ep, checked, &events.S136WelfareChecked{CheckedAt: checked, CheckedBy: "PS 118"})
	w.waitDue(ep, events.WelfareCheckClock, ep, checked.Add(30*time.Minute))
	w.advanceTo(arrived.Add(30 * time.Minute))
	w.wantAlarms(ep) // checked in time

	missed := checked.Add(30 * time.Minute)
	w.advanceTo(missed.Add(-5 * time.Minute))
	w.advanceTo(missed)
	w.wantAlarms(ep, "warning welfare_check police at "+at(missed.Add(-5*time.Minute))+" (300s left)",
		"breach welfare_check police at "+at(missed)+" (0s over, repeat 0)")
}

func TestHandoffNotAcceptedEscalatesEveryIntervalUntilAccepted(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{Handoffs: map[events.HandoffKind]clock.HandoffTimes{
		events.MHAAssessment: {Acknowledge: 15 * time.Minute, Accept: time.Hour,
			Timing: clock.Timing{WarnBefore: 10 * time.Minute, RepeatEvery: 15 * time.Minute}}}})
	ep := events.NewEpisodeID()
	handoff := events.NewEpisodeID()
	offered := friday.Add(time.Hour)
	w.emit(events.Police, ep, offered, &events.HandoffOffered{HandoffID: handoff, Kind: events.MHAAssessment, To: events.AMHP,
		Reason: "detained under s136, at the s136 suite", Urgency: "emergency", Summary: events.Summary{Facts: []events.Fact{}}})
	w.waitDue(ep, events.HandoffAcceptClock, handoff, offered.Add(time.Hour))
	w.emit(events.AMHP, ep, offered.Add(3*time.Minute), &events.HandoffAcknowledged{HandoffID: handoff}, events.To(events.Police))
	w.waitStopped(ep, events.HandoffAckClock)

	w.advanceTo(offered.Add(50 * time.Minute))
	warn := "warning handoff_accept amhp at " + at(offered.Add(50*time.Minute)) + " (600s left)"
	w.wantAlarms(ep, warn)
	w.advanceTo(offered.Add(time.Hour))
	w.advanceTo(offered.Add(75 * time.Minute))
	w.advanceTo(offered.Add(90 * time.Minute))
	b0 := "breach handoff_accept amhp at " + at(offered.Add(time.Hour)) + " (0s over, repeat 0)"
	b1 := "breach handoff_accept amhp at " + at(offered.Add(75*time.Minute)) + " (900s over, repeat 1)"
	b2 := "breach handoff_accept amhp at " + at(offered.Add(90*time.Minute)) + " (1800s over, repeat 2)"
	w.wantAlarms(ep, warn, b0, b1, b2)
	for _, a := range w.alarms(ep)[1:] {
		if a.breach.Ref != handoff {
			t.Fatalf("breach names %q, want the handoff %s", a.breach.Ref, handoff)
		}
	}

	// The AMHP service accepts: the escalation stops.
	w.emit(events.AMHP, ep, offered.Add(95*time.Minute), &events.HandoffAccepted{HandoffID: handoff, AcceptedBy: "AMHP J. Patel"}, events.To(events.Police))
	w.waitStopped(ep, events.HandoffAcceptClock)
	w.advanceTo(offered.Add(3 * time.Hour))
	w.wantAlarms(ep, warn, b0, b1, b2)
}

// A triage-advice offer to the SPoA nobody ever answers (default timings:
// acknowledge in 5 minutes, accept in 15, repeat every 5). Each clock
// breaches, repeats twice 5 minutes apart, then backs off, each interval
// twice the one before, to once a day: in 30 days 80 facts on the episode
// (a warning and 39 breaches a clock), where repeating every 5 minutes put
// 17,280 there; and never a day without a reminder.
func TestAnOfferNobodyAnswersBacksOffToADailyReminderAndNeverGoesSilent(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{})
	ep := events.NewEpisodeID()
	handoff := events.NewEpisodeID()
	w.emit(events.Police, ep, friday, &events.HandoffOffered{HandoffID: handoff, Kind: events.TriageAdvice, To: events.SPoA,
		Reason: "caller on the bridge", Urgency: "emergency", Summary: events.Summary{Facts: []events.Fact{}}})
	w.waitDue(ep, events.HandoffAckClock, handoff, friday.Add(5*time.Minute))
	w.waitDue(ep, events.HandoffAcceptClock, handoff, friday.Add(15*time.Minute))
	end := friday.Add(30 * 24 * time.Hour)

	// The rule's grid, in minutes after the due time.
	grid := []int{0, 5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560}
	for m := 2560 + 1440; m < 30*1440; m += 1440 {
		grid = append(grid, m)
	}
	want := map[events.ClockKind][]string{}
	steps := []time.Time{end}
	for kind, due := range map[events.ClockKind]time.Time{events.HandoffAckClock: friday.Add(5 * time.Minute), events.HandoffAcceptClock: friday.Add(15 * time.Minute)} {
		want[kind] = []string{fmt.Sprintf("warning %s spoa at %s (120s left)", kind, at(due.Add(-2*time.Minute)))}
		steps = append(steps, due.Add(-2*time.Minute))
		for i, m := range grid {
			if b := due.Add(time.Duration(m) * time.Minute); b.Before(end) {
				want[kind] = append(want[kind], fmt.Sprintf("breach %s spoa at %s (%ds over, repeat %d)", kind, at(b), m*60, i))
				steps = append(steps, b)
			}
		}
	}
	// Look in between too: every 5 minutes for 6 hours, every 30 minutes to
	// the end of the second day, then every 6 hours.
	for t := friday; t.Before(end); {
		steps = append(steps, t)
		switch {
		case t.Before(friday.Add(6 * time.Hour)):
			t = t.Add(5 * time.Minute)
		case t.Before(friday.Add(48 * time.Hour)):
			t = t.Add(30 * time.Minute)
		default:
			t = t.Add(6 * time.Hour)
		}
	}
	slices.SortFunc(steps, func(a, b time.Time) int { return a.Compare(b) })
	for _, t := range slices.Compact(steps) {
		w.advanceTo(t)
	}

	alarms := w.alarms(ep)
	if len(alarms) > 80 {
		t.Fatalf("one unanswered offer put %d clock facts on its episode in 30 days, want at most 80", len(alarms))
	}
	got := map[events.ClockKind][]string{}
	for _, a := range alarms {
		kind := events.ClockKind("")
		if a.warning != nil {
			kind = a.warning.Clock
		} else {
			kind = a.breach.Clock
		}
		got[kind] = append(got[kind], a.String())
	}
	for kind, want := range want {
		if strings.Join(got[kind], "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s clock in the episode record:\n  %s\nwant:\n  %s", kind, strings.Join(got[kind], "\n  "), strings.Join(want, "\n  "))
		}
	}
	t.Logf("30 days of an unanswered offer: %d clock facts on its episode", len(alarms))
}

func TestMissedFollowUpContactIsABreachNotSilence(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{FollowUp: clock.FollowUpTimes{
		Contacts: []time.Duration{24 * time.Hour, 48 * time.Hour, 72 * time.Hour, 96 * time.Hour},
		Grace:    time.Hour, // a call not made within the hour it is due is missed
		Timing:   clock.Timing{WarnBefore: time.Hour, RepeatEvery: 2 * time.Hour}}})
	ep := events.NewEpisodeID()
	handoff := events.NewEpisodeID()

	// Assessed under s136, not admitted: the AMHP refers him to the helpline.
	referred := friday.Add(6 * time.Hour)
	w.emit(events.AMHP, ep, referred, &events.HandoffOffered{HandoffID: handoff, Kind: events.FollowUp, To: events.Crisisline,
		Reason: "assessed under s136, not detained: 4 days of telephone follow-up", Urgency: "urgent", Summary: events.Summary{Facts: []events.Fact{}}})
	w.emit(events.Crisisline, ep, referred.Add(10*time.Minute), &events.HandoffAcknowledged{HandoffID: handoff}, events.To(events.AMHP))
	w.emit(events.Crisisline, ep, referred.Add(20*time.Minute), &events.HandoffAccepted{HandoffID: handoff, AcceptedBy: "Helpline T. Ward"}, events.To(events.AMHP))
	w.waitDue(ep, events.FollowUpClock, contactRefOf(ep, 1), referred.Add(25*time.Hour))
	w.waitStopped(ep, events.HandoffAcceptClock)

	// Day 1: the helpline calls before it is due and speaks to him.
	w.clk.Set(referred.Add(20 * time.Hour))
	w.emit(events.Crisisline, ep, referred.Add(20*time.Hour), &events.FollowupContactAttempted{ContactNumber: 1, Outcome: "spoke", Risk: "low"})
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		cs, err := w.svc.Clocks(t.Context(), ep)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Contact == 1 && !c.Running() {
				return nil
			}
		}
		return fmt.Errorf("contact 1 still running")
	})
	w.advanceTo(referred.Add(25 * time.Hour))
	w.wantAlarms(ep)

	// Day 2: nobody calls. When the call is due the helpline is warned; an
	// hour later it is missed, and the breach repeats until the call is made.
	w.advanceTo(referred.Add(48*time.Hour - time.Second))
	w.wantAlarms(ep)
	w.advanceTo(referred.Add(48 * time.Hour))
	w.advanceTo(referred.Add(49 * time.Hour))
	alarms := w.alarms(ep)
	want := []string{"warning followup_contact crisisline at " + at(referred.Add(48*time.Hour)) + " (3600s left)",
		"breach followup_contact crisisline at " + at(referred.Add(49*time.Hour)) + " (0s over, repeat 0)"}
	w.wantAlarms(ep, want...)
	if ref := alarms[1].breach.Ref; ref != contactRefOf(ep, 2) {
		t.Fatalf("breach ref %q does not name contact 2", ref)
	}
	w.advanceTo(referred.Add(51 * time.Hour))
	want = append(want, "breach followup_contact crisisline at "+at(referred.Add(51*time.Hour))+" (7200s over, repeat 1)")
	w.wantAlarms(ep, want...)

	// The call is made late; the follow-up completes; nothing more alarms.
	w.emit(events.Crisisline, ep, referred.Add(51*time.Hour), &events.FollowupContactAttempted{ContactNumber: 2, Outcome: "spoke"})
	w.emit(events.Crisisline, ep, referred.Add(52*time.Hour), &events.FollowupCompleted{ContactsMade: 2, Summary: "settled; plan shared with GP"})
	w.waitStopped(ep, events.FollowUpClock)
	w.advanceTo(referred.Add(5 * 24 * time.Hour))
	w.wantAlarms(ep, want...)
}

func TestBreachPublishedJustBeforeACrashIsNotPublishedAgain(t *testing.T) {
	dir := t.TempDir()
	clk := fakeclock.New(friday)
	w := newWorld(t, dir, clk, clock.Config{S136: clock.Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}})
	ep := events.NewEpisodeID()
	detain(w, ep, 34, true)
	due := friday.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)
	w.advanceTo(due.Add(-time.Hour))

	// The process published the breach, then died before recording it as
	// fired: the stream has the breach, the clock's record does not.
	w.svc.Stop()
	clk.Set(due)
	w.emit(events.Clock, ep, due, &events.ClockBreached{Clock: events.S136Clock, Ref: ep, Owner: events.AMHP, DueAt: due},
		events.WithID(clock.EventID(clock.S136Key(ep), "breach", due, 0)))
	w.stop()

	w.start(dir)
	w.advanceTo(due)
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-time.Hour))+" (3600s left)",
		"breach s136 amhp at "+at(due)+" (0s over, repeat 0)")
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		cs, err := w.svc.Clocks(t.Context(), ep)
		if err != nil {
			return err
		}
		if c := cs[clock.S136Key(ep)]; c.Breaches != 1 {
			return fmt.Errorf("the clock records %d breaches fired, want 1", c.Breaches)
		}
		return nil
	})
	w.advanceTo(due.Add(59 * time.Minute))
	w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-time.Hour))+" (3600s left)",
		"breach s136 amhp at "+at(due)+" (0s over, repeat 0)")
}

func TestCrisisbusUpRunsTheClockService(t *testing.T) {
	clk, admin, ep := detainedUnderUp(t, nil)
	clk.Set(friday.Add(24 * time.Hour))
	breachStoredOnce(t, admin, ep)
}

// detainedUnderUp starts `crisisbus up` with its clock service alone, on
// a fake clock at friday (log, if not nil, its logger), and has police
// detain a person then, kept where they are: their s136 clock runs. It
// returns the clock, the admin's bus and the episode.
func detainedUnderUp(t *testing.T, log *zap.Logger) (*fakeclock.Clock, *natsbus.Bus, string) {
	t.Helper()
	clk := fakeclock.New(friday)
	sys, err := system.Start(t.Context(), system.Config{DataDir: t.TempDir(), Port: -1, Only: []string{"clock"}, Now: clk.Now, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	police, err := sys.Connect(events.Police)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	ep := events.NewEpisodeID()
	if _, _, err := police.Emit(t.Context(), ep, &events.S136Detained{DetainedAt: friday, LocationType: "transport",
		AgeYears: 27, KeptWhereTheyAre: true, Consulted: true}); err != nil {
		t.Fatal(err)
	}
	return clk, admin, ep
}

// breachStoredOnce waits until the stream holds one breach of episode ep.
func breachStoredOnce(t *testing.T, admin *natsbus.Bus, ep string) {
	t.Helper()
	bustest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		st, err := admin.JetStream().Stream(t.Context(), natsbus.Stream)
		if err != nil {
			return err
		}
		spec, _ := events.SpecOf(&events.ClockBreached{})
		info, err := st.Info(t.Context(), jetstream.WithSubjectFilter(events.EpisodeSubjects(ep)))
		if err != nil {
			return err
		}
		for subj, n := range info.State.Subjects {
			if strings.HasSuffix(subj, spec.Token()) && n == 1 {
				return nil
			}
		}
		return fmt.Errorf("no breach stored yet: %v", info.State.Subjects)
	})
}

func TestTwoInstancesOfTheClockServicePublishEachBreachOnce(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}})
	second, err := clock.Start(t.Context(), bustest.Bus(t, w.b, events.Clock), clock.Config{Now: clk.Now, Tick: 5 * time.Millisecond,
		S136: clock.Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)

	var eps []string
	for range 20 {
		ep := events.NewEpisodeID()
		eps = append(eps, ep)
		detain(w, ep, 30, true)
	}
	due := friday.Add(24 * time.Hour)
	for _, ep := range eps {
		w.waitDue(ep, events.S136Clock, ep, due)
	}
	bustest.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if second.Live() != len(eps) {
			return fmt.Errorf("second instance holds %d clocks, want %d", second.Live(), len(eps))
		}
		return nil
	})
	for _, step := range []time.Time{due.Add(-time.Hour), due, due.Add(time.Hour)} {
		clk.Set(step)
		bustest.CheckFor(t, 10*time.Second, 2*time.Millisecond, func() error {
			if w.svc.ScannedThrough().Before(step) || second.ScannedThrough().Before(step) {
				return fmt.Errorf("instances have not scanned through %s", step)
			}
			return nil
		})
	}
	for _, ep := range eps {
		w.wantAlarms(ep, "warning s136 amhp at "+at(due.Add(-time.Hour))+" (3600s left)",
			"breach s136 amhp at "+at(due)+" (0s over, repeat 0)",
			"breach s136 amhp at "+at(due.Add(time.Hour))+" (3600s over, repeat 1)")
	}
}

// A year of past detentions is imported while the clock runs, as an area
// bringing its history onto crisisbus would: the facts arrive in time
// order, a detention's release often thousands of facts after its
// detention. The clock reports as breached exactly the detentions whose
// permitted period ran out before they ended: none that ended in time
// (a false alarm teaches people to ignore the alarm), none missed.
func TestImportingAYearOfPastDetentionsRaisesNoFalseBreachAndMissesNone(t *testing.T) {
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	clk := fakeclock.New(now)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}, MaxLag: 500 * time.Millisecond})
	nc, err := w.b.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	importer, err := natsbus.NewBus(nc, "", bustest.Logger())
	if err != nil {
		t.Fatal(err)
	}

	// 365 detentions, one a day; arrival at the suite 40 minutes later; the
	// detention ends between 2 and 29 hours after arrival, so about one in
	// five ran past the 24-hour permitted period.
	type fact struct {
		at   time.Time
		ep   string
		data any
	}
	var facts []fact
	breached := map[string]bool{}
	start := now.AddDate(-1, 0, 0)
	for d := range 365 {
		ep := events.NewEpisodeID()
		detained := start.Add(time.Duration(d)*24*time.Hour + time.Duration(d%13)*time.Hour)
		arrived := detained.Add(40 * time.Minute)
		held := time.Duration(2+(d*5)%28) * time.Hour
		ended := arrived.Add(held)
		facts = append(facts,
			fact{detained, ep, &events.S136Detained{DetainedAt: detained, LocationType: "public_place", AgeYears: 30 + d%40, Consulted: true}},
			fact{arrived, ep, &events.PlaceOfSafetyArrived{ArrivedAt: arrived, PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite"}})
		if d%2 == 0 {
			facts = append(facts, fact{ended, ep, &events.S136Released{ReleasedAt: ended, Reason: "no mental disorder found"}})
		} else {
			facts = append(facts, fact{ended, ep, &events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: ended}})
		}
		if held > 24*time.Hour {
			breached[ep] = true
		}
	}
	slices.SortStableFunc(facts, func(a, b fact) int { return a.at.Compare(b.at) })
	var docs [][]byte
	for _, f := range facts {
		source := events.Police
		if _, ok := f.data.(*events.AssessmentCompleted); ok {
			source = events.AMHP
		}
		e, err := events.New(source, f.ep, f.data, events.At(f.at))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	// Imported as `crisisbus import` does, a batch at a time.
	for lo := 0; lo < len(docs); lo += 64 {
		for _, r := range importer.PublishBatchRaw(t.Context(), docs[lo:min(lo+64, len(docs))]) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	if len(breached) < 30 {
		t.Fatalf("the history holds %d detentions past their period; the test needs more", len(breached))
	}

	// Once the clock has handled the history and the stream has been quiet,
	// every breach it will publish for it is published.
	w.handled()
	time.Sleep(4 * w.cfg.MaxLag)
	w.advanceTo(now.Add(time.Second))
	spec, err := events.SpecOf(&events.ClockBreached{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	err = importer.ReplayRaw(t.Context(), natsbus.ReplayConfig{Filters: events.TypeSubjects(spec)}, func(s natsbus.Stored) error {
		e, err := events.Parse(s.Raw)
		if err != nil {
			return err
		}
		v, err := e.Decode()
		if err != nil {
			return err
		}
		if b := v.(*events.ClockBreached); b.Clock == events.S136Clock {
			got[e.Subject] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var falseAlarms, missed int
	for ep := range got {
		if !breached[ep] {
			falseAlarms++
		}
	}
	for ep := range breached {
		if !got[ep] {
			missed++
		}
	}
	if falseAlarms != 0 || missed != 0 {
		t.Fatalf("importing 365 past detentions (%d past their period): %d false breaches, %d missed", len(breached), falseAlarms, missed)
	}
}

// Reading an episode's clocks, and stopping them all when it closes, makes
// no consumer on the clocks' bucket: listing the bucket made one at every
// call, so a year of closed episodes meant a consumer made and removed at
// each. The clock finds an episode's clocks from the keys its watcher keeps.
func TestFindingAnEpisodesClocksMakesNoConsumer(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}})
	var eps []string
	for range 10 {
		ep := events.NewEpisodeID()
		detain(w, ep, 34, true) // kept where he is: the 24 hours run from now
		eps = append(eps, ep)
	}
	for _, ep := range eps {
		w.waitDue(ep, events.S136Clock, ep, friday.Add(24*time.Hour))
	}
	bucket := "KV_" + rights.ClocksBucket
	created, err := w.admin.Conn().SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.CREATED." + bucket + ".>")
	if err != nil {
		t.Fatal(err)
	}
	consumers := func() int {
		t.Helper()
		st, err := w.admin.Stream(t.Context(), bucket)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().State.Consumers
	}
	before := consumers()

	for i := range 50 {
		cs, err := w.svc.Clocks(t.Context(), eps[i%len(eps)])
		if err != nil {
			t.Fatal(err)
		}
		if c := cs[clock.S136Key(eps[i%len(eps)])]; !c.Running() {
			t.Fatalf("the s136 clock of episode %d is not running: %+v", i%len(eps), c)
		}
	}
	// Closing an episode stops every clock it has.
	for _, ep := range eps {
		w.emit(events.Police, ep, friday.Add(time.Hour), &events.EpisodeClosed{Reason: "released; no further action"})
	}
	for _, ep := range eps {
		w.waitStopped(ep, events.S136Clock)
	}
	w.advanceTo(friday.Add(25 * time.Hour))
	for _, ep := range eps {
		w.wantAlarms(ep)
	}

	if err := w.admin.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := created.Pending(); n != 0 {
		t.Fatalf("finding clocks made %d consumers on the bucket, want none", n)
	}
	if after := consumers(); after != before {
		t.Fatalf("the clocks' bucket has %d consumers, %d before", after, before)
	}
}

// The man on Rochester bridge is assessed and released ten minutes before
// his 24 hours run out, but the clock reads his episode from a replica a
// moment behind, without the release. The breach it would publish on that
// read is refused (the episode has a fact since), the clock reads again,
// sees the release and publishes no breach: no AMHP is sent running.
func TestAReleaseTheClockReadTooLateForIsNeverABreach(t *testing.T) {
	clk := fakeclock.New(friday)
	w := newWorld(t, "", clk, clock.Config{S136: clock.Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}})
	ep := events.NewEpisodeID()
	detain(w, ep, 34, false)
	arrived := friday.Add(50 * time.Minute)
	arriveAtSuite(w, ep, arrived)
	due := arrived.Add(24 * time.Hour)
	w.waitDue(ep, events.S136Clock, ep, due)
	w.advanceTo(due.Add(-2 * time.Hour))
	warning := "warning s136 amhp at " + at(due.Add(-2*time.Hour)) + " (7200s left)"
	w.wantAlarms(ep, warning)

	released := due.Add(-10 * time.Minute)
	published := make(chan error, 1)
	var once sync.Once
	w.svc.BeforeFire(func(episode string) {
		if episode != ep {
			return
		}
		once.Do(func() {
			_, _, err := w.buses[events.AMHP].Emit(context.Background(), ep,
				&events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: released}, events.At(released))
			published <- err
		})
	})
	w.advanceTo(due)
	select {
	case err := <-published:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the clock judged the detention without reading its episode")
	}
	w.waitStopped(ep, events.S136Clock)
	w.advanceTo(due.Add(2 * time.Hour))
	w.wantAlarms(ep, warning)
}
