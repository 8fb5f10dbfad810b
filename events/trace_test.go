package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
)

func tracedEvent(t *testing.T, opts ...events.Option) events.Event {
	t.Helper()
	e, err := events.New(events.Police, events.NewEpisodeID(), &events.EpisodeOpened{Channel: "999", Summary: "a man on the bridge"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// An event carrying W3C trace context (the CloudEvents distributed-tracing
// extension) is valid, on the quick path too, and reads back the same.
func TestATracedEventIsValidAndReadsBack(t *testing.T) {
	tc := events.NewTrace()
	e := tracedEvent(t, events.Traced(tc, "crisisbus=p1,vendor=x"))
	raw, err := events.Encode(e)
	if err != nil {
		t.Fatalf("a traced event was refused: %v", err)
	}
	if !quickVerdict(registry(t), raw) {
		t.Fatalf("the quick path did not accept a valid traceparent: %s", raw)
	}
	back, err := events.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := back.Trace()
	if !ok || got != tc || back.TraceState != "crisisbus=p1,vendor=x" {
		t.Fatalf("read back trace %+v (%v) state %q, want %+v", got, ok, back.TraceState, tc)
	}
	if got.TraceID == got.SpanID || len(got.TraceID) != 32 || len(got.SpanID) != 16 {
		t.Fatalf("trace context %+v is not a W3C one", got)
	}
}

// An event stored before crisisbus traced has no traceparent and stays valid.
func TestAnEventWithoutTraceContextStaysValid(t *testing.T) {
	e := tracedEvent(t)
	raw, err := events.Encode(e)
	if err != nil {
		t.Fatalf("an event without trace context was refused: %v", err)
	}
	if strings.Contains(string(raw), "traceparent") {
		t.Fatalf("an untraced event carries a traceparent: %s", raw)
	}
	if _, ok := e.Trace(); ok {
		t.Fatal("an untraced event reports a trace")
	}
}

// A malformed traceparent (or tracestate) is refused, naming the attribute,
// by the quick path and the general validator alike.
func TestAMalformedTraceparentIsRefusedByName(t *testing.T) {
	good := events.NewTrace()
	for name, tp := range map[string]string{
		"version ff":       "ff-" + good.TraceID + "-" + good.SpanID + "-01",
		"upper-case hex":   "00-" + strings.ToUpper(good.TraceID) + "-" + good.SpanID + "-01",
		"short trace id":   "00-" + good.TraceID[:30] + "-" + good.SpanID + "-01",
		"all-zero trace":   "00-" + strings.Repeat("0", 32) + "-" + good.SpanID + "-01",
		"all-zero span":    "00-" + good.TraceID + "-" + strings.Repeat("0", 16) + "-01",
		"not trace at all": "hello",
		"trailing junk":    good.String() + "-00",
	} {
		t.Run(name, func(t *testing.T) {
			e := tracedEvent(t)
			e.TraceParent = tp
			err := events.Validate(e)
			if !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "traceparent") {
				t.Fatalf("traceparent %q: got %v, want a refusal naming traceparent", tp, err)
			}
			raw, _ := json.Marshal(e)
			if quickVerdict(registry(t), raw) {
				t.Fatalf("the quick path accepted traceparent %q", tp)
			}
			if _, perr := events.ParseTraceParent(tp); perr == nil {
				t.Fatalf("ParseTraceParent accepted %q", tp)
			}
		})
	}
	e := tracedEvent(t, events.Traced(good, "bad\nstate"))
	if err := events.Validate(e); err == nil || !strings.Contains(err.Error(), "tracestate") {
		t.Fatalf("a tracestate with a newline: got %v, want a refusal naming tracestate", err)
	}
}

// A child span stays in its trace with a new span id.
func TestAChildSpanContinuesTheTrace(t *testing.T) {
	tc := events.NewTrace()
	c := tc.Child()
	if c.TraceID != tc.TraceID || c.SpanID == tc.SpanID || !c.Valid() {
		t.Fatalf("child %+v of %+v", c, tc)
	}
	back, err := events.ParseTraceParent(c.String())
	if err != nil || back != c {
		t.Fatalf("round trip of %s: %+v, %v", c, back, err)
	}
}
