// Package integration runs the crisis pathway end to end: the real embedded
// NATS server with JetStream on disk, the episode record and all five agency
// services in-process (exactly what `crisisbus up` runs), driven through
// their request-reply commands as the console would drive them.
package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// clock is the pathway's injectable time: days pass in a call.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// pathway is crisisbus running for one test.
type pathway struct {
	t     testing.TB
	dir   string
	clock *clock
	sys   *system.System
	admin *natsbus.Bus  // the console's connection
	store *record.Store // the record's projection, read without disclosure for polling
	// commands are the spans that handled the commands do sent, in order
	// (each reply's traceresponse header).
	commands []commandSpan
	log      *zap.Logger // default bustest.Logger()
}

type commandSpan struct {
	agency  events.Agency
	command string
	span    events.TraceContext
}

func start(t testing.TB) *pathway {
	t.Helper()
	p := &pathway{t: t, dir: t.TempDir(), clock: &clock{now: time.Date(2026, 11, 20, 22, 40, 0, 0, time.UTC)}}
	p.up()
	t.Cleanup(func() {
		if p.sys != nil {
			p.sys.Close()
		}
	})
	return p
}

func (p *pathway) up() {
	p.t.Helper()
	ctx := context.Background()
	log := p.log
	if log == nil {
		log = bustest.Logger()
	}
	sys, err := system.Start(ctx, system.Config{DataDir: p.dir, Port: -1, HTTPAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", Now: p.clock.Now, Log: log})
	if err != nil {
		p.t.Fatalf("start crisisbus: %v", err)
	}
	p.sys = sys
	if p.admin, err = sys.Connect(""); err != nil {
		p.t.Fatal(err)
	}
	for _, want := range append([]string{"episode-record"}, agencyNames()...) {
		if !slices.Contains(sys.Started, want) {
			p.t.Fatalf("crisisbus started %v, without %s", sys.Started, want)
		}
	}
	if p.store, err = record.OpenStore(ctx, p.admin.JetStream()); err != nil {
		p.t.Fatal(err)
	}
}

// restart stops every service and the embedded server, then starts them all
// again on the same data directory.
func (p *pathway) restart() {
	p.t.Helper()
	p.sys.Close()
	p.sys = nil
	p.up()
}

func agencyNames() []string {
	var out []string
	for _, a := range events.Agencies {
		out = append(out, string(a))
	}
	return out
}

// do sends a command to an agency and fails the test if it is refused.
func do[Req, Resp any](p *pathway, a events.Agency, command string, req Req) Resp {
	p.t.Helper()
	ctx, span := tracing.Replies(context.Background())
	resp, err := rpc.Call[Req, Resp](ctx, p.admin.Conn(), agency.Subject(a, command), req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", a, command, err)
	}
	if s, ok := span(); ok {
		p.commands = append(p.commands, commandSpan{a, command, s.TraceContext})
	}
	return resp
}

// refused sends a command that must be refused with code, and returns the reason.
func refused[Req any](p *pathway, a events.Agency, command string, req Req, code int, says string) {
	p.t.Helper()
	_, err := rpc.Call[Req, agency.Receipt](context.Background(), p.admin.Conn(), agency.Subject(a, command), req)
	var re *rpc.Error
	if !errors.As(err, &re) {
		p.t.Fatalf("%s %s was not refused (err %v)", a, command, err)
	}
	if re.Code != code || !strings.Contains(re.Message, says) {
		p.t.Fatalf("%s %s refused with %d %q, want %d containing %q", a, command, re.Code, re.Message, code, says)
	}
}

func base(ep, actor string) agency.Base { return agency.Base{Episode: ep, Actor: actor} }

// record waits until the record's projection satisfies cond, and returns it.
func (p *pathway) record(ep string, cond func(v episode.View) error) episode.View {
	p.t.Helper()
	var v episode.View
	bustest.CheckFor(p.t, 10*time.Second, 10*time.Millisecond, func() error {
		got, _, ok, err := p.store.Get(context.Background(), ep)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("the record has no episode %s yet", ep)
		}
		v = got
		return cond(v)
	})
	return v
}

// caughtUp is a record condition: the projection holds every stored fact.
func (p *pathway) caughtUp(ep string) func(episode.View) error {
	want := p.stored(ep)
	return func(v episode.View) error {
		if missing := missingFrom(v.Timeline, want); len(missing) > 0 {
			return fmt.Errorf("record lacks %d of %d stored facts: %v", len(missing), len(want), missing)
		}
		return nil
	}
}

// stored replays the episode's facts from the stream (disclosures apart).
func (p *pathway) stored(ep string) []storedEvent {
	p.t.Helper()
	var out []storedEvent
	_, err := p.admin.Replay(context.Background(), events.EpisodeSubjects(ep), func(e events.Event, seq uint64) error {
		out = append(out, storedEvent{e, seq})
		return nil
	}, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

type storedEvent struct {
	events.Event
	seq uint64
}

func missingFrom(timeline []episode.Entry, want []storedEvent) []string {
	have := map[string]bool{}
	for _, e := range timeline {
		have[e.EventID] = true
	}
	var missing []string
	for _, e := range want {
		if episode.OnTimeline(e.Event) && !have[e.ID] {
			missing = append(missing, e.Type)
		}
	}
	return missing
}

// view reads an agency's view through the record's API, as the console does.
func (p *pathway) view(ep string, a events.Agency, viewer string) (map[string]any, episode.View) {
	p.t.Helper()
	resp := do[record.ViewRequest, record.ViewResponse](p, events.Record, string(a)+".view",
		record.ViewRequest{Episode: ep, Viewer: viewer, Purpose: "direct care of the person in this episode", Reason: "a test reads every agency's view"})
	if resp.Agency != a {
		p.t.Fatalf("asked for the %s view, got the %s view", a, resp.Agency)
	}
	var fields map[string]any
	var v episode.View
	if err := errors.Join(json.Unmarshal(resp.View, &fields), json.Unmarshal(resp.View, &v)); err != nil {
		p.t.Fatal(err)
	}
	return fields, v
}

// owner asserts the episode has exactly this owner once the record has caught up.
func (p *pathway) owner(ep string, want events.Agency) episode.View {
	p.t.Helper()
	return p.record(ep, func(v episode.View) error {
		if err := p.caughtUp(ep)(v); err != nil {
			return err
		}
		if v.Owner != want {
			return fmt.Errorf("owner is %q, want %q", v.Owner, want)
		}
		return nil
	})
}

// acknowledged waits until the receiver's inbox has acknowledged the offer.
func (p *pathway) acknowledged(ep, handoff string) {
	p.t.Helper()
	p.record(ep, func(v episode.View) error {
		h := v.Handoff(handoff)
		if h == nil || h.State != episode.Acknowledged {
			return fmt.Errorf("handoff %s is %+v, want acknowledged", handoff, h)
		}
		return nil
	})
}

// continuity asserts the continuity property of one handoff, at its
// acceptance: every fact stored on the episode before the offer is carried
// by the offer's summary and present in the receiver's own view of the
// record. It returns how many facts were carried.
func (p *pathway) continuity(ep, handoff string) int {
	p.t.Helper()
	all := p.stored(ep)
	var offer *storedEvent
	var offered events.HandoffOffered
	for i := range all {
		if all[i].DecodeInto(&offered) == nil && offered.HandoffID == handoff {
			offer = &all[i]
			break
		}
	}
	if offer == nil {
		p.t.Fatalf("no offer of handoff %s stored", handoff)
	}
	var before []storedEvent
	var beforeTimeline []episode.Entry
	for _, e := range all {
		if e.seq < offer.seq && episode.OnTimeline(e.Event) {
			before = append(before, e)
			beforeTimeline = append(beforeTimeline, episode.Entry{EventID: e.ID, Type: e.Type})
		}
	}
	if missing := episode.MissingFacts(beforeTimeline, offered.Summary); len(missing) > 0 {
		p.t.Fatalf("handoff %s to %s: the offer's summary lacks %d of %d facts: %v", handoff, offered.To, len(missing), len(before), missing)
	}
	p.record(ep, p.caughtUp(ep))
	_, rv := p.view(ep, offered.To, "receiving "+string(offered.To)+" worker")
	if missing := missingFrom(rv.Timeline, before); len(missing) > 0 {
		p.t.Fatalf("handoff %s: %s's view lacks %d facts known before the offer: %v", handoff, offered.To, len(missing), missing)
	}
	if h := rv.Handoff(handoff); h == nil || h.State != episode.Accepted || rv.Owner != offered.To {
		p.t.Fatalf("handoff %s at acceptance: %+v, owner %s; want accepted and owned by %s", handoff, h, rv.Owner, offered.To)
	}
	p.t.Logf("handoff %s (%s, %s to %s): %d facts carried, 0 missing in the summary and in the receiver's view at acceptance",
		handoff[:8], offered.Kind, offer.Source, offered.To, len(before))
	return len(before)
}

// noClinicalInPoliceView asserts the police view holds no clinical field and
// none of the clinical text recorded, while a health agency's view holds it.
func (p *pathway) noClinicalInPoliceView(ep string, health events.Agency) {
	p.t.Helper()
	full := p.record(ep, p.caughtUp(ep))
	if len(full.Clinical) == 0 {
		p.t.Fatal("the scenario recorded no clinical note: the check would prove nothing")
	}
	police, _ := p.view(ep, events.Police, "control room mental health worker")
	if leaks := episode.ClinicalLeaks(police, full); len(leaks) > 0 {
		p.t.Fatalf("police view leaks %d clinical items: %v", len(leaks), leaks)
	}
	p.t.Logf("police view: %d clinical notes recorded, 0 leaked", len(full.Clinical))
	_, hv := p.view(ep, health, "clinician")
	if len(hv.Clinical) != len(full.Clinical) {
		p.t.Fatalf("%s sees %d clinical notes, want all %d", health, len(hv.Clinical), len(full.Clinical))
	}
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// normalised renders a view with its ids replaced by their order of first
// appearance, so two runs of one scenario can be compared.
func normalised(v episode.View) string {
	if v.TraceID != "" {
		v.TraceID = "trace" // a new one each run, as every id is
	}
	raw, _ := json.MarshalIndent(v, "", " ")
	seen := map[string]string{}
	return uuidRE.ReplaceAllStringFunc(string(raw), func(id string) string {
		if _, ok := seen[id]; !ok {
			seen[id] = fmt.Sprintf("id-%d", len(seen)+1)
		}
		return seen[id]
	})
}
