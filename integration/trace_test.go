package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/services/agency"
)

// exported collects the spans crisisbus ends (the exporter the
// OpenTelemetry one plugs into), to follow each span to its parent.
type exported struct {
	mu    sync.Mutex
	spans map[string]tracing.Span // by span id
}

func (x *exported) Export(s tracing.Span, _ time.Time, _ error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.spans[s.SpanID] = s
}

func (x *exported) get(id string) (tracing.Span, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	s, ok := x.spans[id]
	return s, ok
}

func exportSpans(t *testing.T) *exported {
	x := &exported{spans: map[string]tracing.Span{}}
	tracing.SetExporter(x)
	t.Cleanup(func() { tracing.SetExporter(nil) })
	return x
}

// One person's path through scenario (b), from the control room's 999 call
// through SPoA's advice and place of safety, the AMHP service's
// assessment, the clock's warning of an unaccepted handoff and the
// record's disclosures, to the helpline's follow-up calls, is one trace:
// every event of the episode carries the same trace id; each event an
// agency's command stored has that command's span (the reply's
// traceresponse) as its parent; the clock's and the inboxes' events have
// spans of their own whose parents lead back to the command that caused
// them; and no two commands share a span.
func TestOneEpisodeIsOneTraceThroughEveryService(t *testing.T) {
	x := exportSpans(t)
	p := start(t)
	warned := false
	ep := s136Pathway(t, p, "not_admitted", func() {
		if warned {
			return
		}
		warned = true
		// The assessment request is not accepted for 55 minutes: the
		// clock warns (due within the hour, warned 10 minutes before).
		p.clock.Advance(55 * time.Minute)
		bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			n := 0
			_, err := p.admin.Replay(context.Background(), "crisis.clock.>", func(e events.Event, _ uint64) error {
				n++
				return nil
			}, nil)
			if err == nil && n == 0 {
				err = fmt.Errorf("the clock has published nothing yet")
			}
			return err
		})
	})
	p.record(ep, func(v episode.View) error {
		if !v.Closed {
			return fmt.Errorf("episode not closed")
		}
		return p.caughtUp(ep)(v)
	})
	p.view(ep, events.AMHP, "clinician") // a disclosure of the record

	commands := map[string]commandSpan{}
	for _, c := range p.commands {
		if prev, dup := commands[c.span.SpanID]; dup {
			t.Fatalf("%s %s and %s %s share span %s", prev.agency, prev.command, c.agency, c.command, c.span.SpanID)
		}
		commands[c.span.SpanID] = c
		if s, ok := x.get(c.span.SpanID); !ok || s.Service != "crisisbus-"+string(c.agency) || (c.agency != events.Record && s.Name != agency.Subject(c.agency, c.command)) {
			t.Errorf("%s %s: exported span %+v (%v), want one of service crisisbus-%s named for the command", c.agency, c.command, s, ok, c.agency)
		}
	}
	if len(commands) < 20 {
		t.Fatalf("%d commands answered with a traceresponse, want every one of the scenario's", len(commands))
	}

	stored := p.stored(ep)
	first, ok := stored[0].Trace()
	if !ok {
		t.Fatalf("the episode's first event carries no trace context: %+v", stored[0].Event)
	}
	sources := map[events.Agency]int{}
	bySpan := map[string][]storedEvent{}
	for _, e := range stored {
		tc, ok := e.Trace()
		if !ok || tc.TraceID != first.TraceID {
			t.Fatalf("event %s (%s by %s) has traceparent %q, want trace %s", e.ID, e.Type, e.Source, e.TraceParent, first.TraceID)
		}
		sources[e.Source]++
		bySpan[tc.SpanID] = append(bySpan[tc.SpanID], e)
	}
	for _, a := range []events.Agency{events.Police, events.SPoA, events.AMHP, events.Crisisline, events.Clock, events.Record} {
		if sources[a] == 0 {
			t.Errorf("no event of the episode from %s (from %v)", a, sources)
		}
	}
	for _, c := range p.commands {
		if c.span.TraceID != first.TraceID {
			t.Errorf("%s %s was handled in trace %s, not the episode's %s", c.agency, c.command, c.span.TraceID, first.TraceID)
		}
	}

	// leadsTo follows a span's parents to a command's span.
	leadsTo := func(span string) (commandSpan, []string) {
		path := []string{span}
		for range 5 {
			if c, ok := commands[span]; ok {
				return c, path
			}
			s, ok := x.get(span)
			if !ok || s.Parent == "" {
				break
			}
			span = s.Parent
			path = append(path, span)
		}
		return commandSpan{}, path
	}
	for span, evs := range bySpan {
		src := evs[0].Source
		for _, e := range evs {
			if e.Source != src {
				t.Errorf("span %s published events of %s and of %s", span, src, e.Source)
			}
		}
		if c, ok := commands[span]; ok {
			if c.agency != src {
				t.Errorf("the span of %s %s parents an event of %s", c.agency, c.command, src)
			}
			continue
		}
		switch src {
		case events.Record:
			// The record's disclosures: a span of the record's for each.
			if len(evs) != 1 {
				t.Errorf("the record's span %s holds %d disclosures, want one", span, len(evs))
			}
			continue
		case events.Clock:
			if len(evs) != 1 {
				t.Errorf("the clock's span %s holds %d events, want one per warning or breach", span, len(evs))
			}
			if s, ok := x.get(span); !ok || s.Service != "crisisbus-clock" {
				t.Errorf("clock event %s (%s): span %+v (%v), want one of the clock's", evs[0].ID, evs[0].Type, s, ok)
			}
		}
		c, path := leadsTo(span)
		if c.agency == "" {
			t.Errorf("event %s (%s by %s): its span's parents %v lead to no command", evs[0].ID, evs[0].Type, src, path)
		}
	}
	if sources[events.Clock] == 0 || len(bySpan) <= len(commands) {
		t.Fatalf("%d spans published the episode's events, %d of them commands' (clock events: %d)", len(bySpan), len(commands), sources[events.Clock])
	}
}

// request sends a command as an integrator's system would, with its own
// trace context in the traceparent (and tracestate) header, and returns
// the reply and its traceresponse.
func request(t *testing.T, p *pathway, a events.Agency, command string, req any, traceparent, tracestate string) (*nats.Msg, events.TraceContext) {
	t.Helper()
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(agency.Subject(a, command))
	m.Data = raw
	if traceparent != "" {
		m.Header.Set("traceparent", traceparent)
	}
	if tracestate != "" {
		m.Header.Set("tracestate", tracestate)
	}
	reply, err := p.admin.Conn().RequestMsg(m, 10*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", a, command, err)
	}
	tc, _ := events.ParseTraceParent(reply.Header.Get("traceresponse"))
	return reply, tc
}

// An integrator's system that sends a command with a traceparent header
// joins the trace: the episode it opens is in the caller's trace, the
// command's span a child of the caller's, the tracestate carried. A later
// caller in another trace does not split the episode: its command
// continues the episode's trace. Every log line about the episode names
// its trace and span. A malformed traceparent is refused, naming it.
func TestACallersTraceparentIsContinuedByTheEpisode(t *testing.T) {
	x := exportSpans(t)
	core, logs := observer.New(zapcore.InfoLevel)
	p := &pathway{t: t, dir: t.TempDir(), clock: &clock{now: time.Date(2026, 11, 20, 22, 40, 0, 0, time.UTC)}, log: zap.New(core)}
	p.up()
	t.Cleanup(func() { p.sys.Close() })

	caller := events.NewTrace()
	reply, span := request(t, p, events.Police, "open", agency.OpenRequest{Actor: "call handler 1123", Channel: "999",
		Summary: "woman in distress at Chatham station", Voice: &events.PersonVoiceRecorded{OwnWords: "I need someone to talk to"}},
		caller.String(), "acme=7f3a")
	var open agency.OpenResponse
	if err := json.Unmarshal(reply.Data, &open); err != nil || open.Episode == "" {
		t.Fatalf("open: %s %v (%s)", reply.Data, err, reply.Header.Get(micro.ErrorHeader))
	}
	if span.TraceID != caller.TraceID || span.SpanID == caller.SpanID || span.SpanID == "" {
		t.Fatalf("open answered traceresponse %+v, want a new span in the caller's trace %s", span, caller.TraceID)
	}
	if s, ok := x.get(span.SpanID); !ok || s.Parent != caller.SpanID || s.Episode != open.Episode {
		t.Fatalf("the open command's span %+v (%v), want the caller's span %s as its parent", s, ok, caller.SpanID)
	}
	ep := open.Episode
	evs := p.stored(ep)
	if len(evs) != 2 {
		t.Fatalf("open stored %d events, want the opening and the person's words", len(evs))
	}
	for _, e := range evs {
		if e.TraceParent != span.String() || e.TraceState != "acme=7f3a" {
			t.Fatalf("event %s (%s) carries %q %q, want the command's span %s and the caller's tracestate", e.ID, e.Type, e.TraceParent, e.TraceState, span)
		}
	}

	// A caller in another trace: the episode's trace goes on.
	other := events.NewTrace()
	_, span2 := request(t, p, events.Police, "voice", agency.VoiceRequest{Base: base(ep, "PC 4471 Hughes"),
		PersonVoiceRecorded: events.PersonVoiceRecorded{OwnWords: "please ring my mum"}}, other.String(), "")
	if span2.TraceID != caller.TraceID || span2.SpanID == span.SpanID {
		t.Fatalf("a later command answered traceresponse %+v, want a new span in the episode's trace %s", span2, caller.TraceID)
	}
	// A caller in the episode's trace: its span is the command's parent.
	joined := events.TraceContext{TraceID: caller.TraceID, SpanID: events.NewTrace().SpanID, Flags: "01"}
	_, span3 := request(t, p, events.Police, "voice", agency.VoiceRequest{Base: base(ep, "PC 4471 Hughes"),
		PersonVoiceRecorded: events.PersonVoiceRecorded{OwnWords: "and my sister"}}, joined.String(), "")
	if s, ok := x.get(span3.SpanID); !ok || s.TraceID != caller.TraceID || s.Parent != joined.SpanID {
		t.Fatalf("a command of a caller in the episode's trace: span %+v (%v), want the caller's span %s as its parent", s, ok, joined.SpanID)
	}
	// A command with no trace context of its own continues the episode's.
	do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4471 Hughes"),
		Kind: events.TriageAdvice, To: events.SPoA, Reason: "advice on a woman in distress", Urgency: "urgent"})
	p.record(ep, func(v episode.View) error {
		if len(v.Handoffs) != 1 || v.Handoffs[0].State != episode.Acknowledged {
			return fmt.Errorf("handoffs %+v, want the offer acknowledged by SPoA's inbox", v.Handoffs)
		}
		return nil
	})
	stored := p.stored(ep)
	spans := map[string]bool{}
	for _, e := range stored {
		tc, ok := e.Trace()
		if !ok || tc.TraceID != caller.TraceID {
			t.Fatalf("event %s (%s by %s) has traceparent %q, want the caller's trace %s", e.ID, e.Type, e.Source, e.TraceParent, caller.TraceID)
		}
		spans[tc.SpanID] = true
	}
	if len(spans) < 5 {
		t.Fatalf("%d events in %d spans, want one span per command (open, voice, voice, offer, the inbox's acknowledgement)", len(stored), len(spans))
	}

	// Every log line about the episode names its trace and a span.
	bustest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		n := 0
		services := map[string]bool{}
		for _, l := range logs.All() {
			f := l.ContextMap()
			if f["episode"] != ep {
				continue
			}
			n++
			if f["trace_id"] != caller.TraceID || f["span_id"] == nil || f["span_id"] == "" {
				return fmt.Errorf("log line %q about the episode has trace_id %v span_id %v, want trace %s: %v", l.Message, f["trace_id"], f["span_id"], caller.TraceID, f)
			}
			services[l.Message] = true
		}
		for _, want := range []string{"recorded", "acknowledged", "event"} {
			if !services[want] {
				return fmt.Errorf("no %q log line about the episode among %d (%v)", want, n, services)
			}
		}
		return nil
	})

	// A malformed traceparent is refused by name, and nothing is stored.
	before := len(p.stored(ep))
	for _, bad := range []string{"00-" + strings.Repeat("0", 32) + "-" + caller.SpanID + "-01", "not a trace", strings.ToUpper(caller.String())} {
		reply, _ := request(t, p, events.Police, "voice", agency.VoiceRequest{Base: base(ep, "PC 4471 Hughes"),
			PersonVoiceRecorded: events.PersonVoiceRecorded{OwnWords: "again"}}, bad, "")
		if code, msg := reply.Header.Get(micro.ErrorCodeHeader), reply.Header.Get(micro.ErrorHeader); code != "400" || !strings.Contains(msg, "traceparent") {
			t.Fatalf("traceparent %q: answered %s %q, want 400 naming the traceparent header", bad, code, msg)
		}
	}
	if after := len(p.stored(ep)); after != before {
		t.Fatalf("refused commands stored %d events", after-before)
	}
	if !slices.ContainsFunc(stored, func(e storedEvent) bool { return e.Source == events.SPoA }) {
		t.Fatal("SPoA's inbox acknowledged nothing")
	}
}
