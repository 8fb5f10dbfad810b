package events

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// One crisis episode is one trace (W3C Trace Context, carried in every
// event by the CloudEvents distributed-tracing extension: traceparent and
// tracestate). The command that opens an episode starts its trace, or
// continues the caller's; every later command on the episode continues it
// with a span of its own, and each event a command publishes carries that
// span as its parent. So one person's path from the control room to the
// helpline can be followed across the agencies' services.

// TraceParentPattern is what a traceparent matches: version 00, a trace id
// of 32 lower-case hex digits, a parent (span) id of 16, and the flags. An
// all-zero trace or span id is invalid too (the envelope schema says so).
const TraceParentPattern = `^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$`

// MaxTraceStateLen bounds tracestate (W3C: at most 32 list members; 512
// characters is what a vendor may rely on being carried).
const MaxTraceStateLen = 512

// TraceContext is a span's place in a trace: the trace (one per episode),
// the span (one per command handled or event consumed) and the flags
// (01: sampled).
type TraceContext struct {
	TraceID string // 32 lower-case hex digits, not all zero
	SpanID  string // 16 lower-case hex digits, not all zero
	Flags   string // 2 lower-case hex digits
}

// ParseTraceParent reads a W3C traceparent header or attribute, and says
// what is wrong with one that is not.
func ParseTraceParent(s string) (TraceContext, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 4 || parts[0] != "00" || !lowerHex(parts[1], 32) || !lowerHex(parts[2], 16) || !lowerHex(parts[3], 2) {
		return TraceContext{}, fmt.Errorf("traceparent %q is not a W3C trace context (version-traceid-parentid-flags, %s)", clip(s), TraceParentPattern)
	}
	tc := TraceContext{TraceID: parts[1], SpanID: parts[2], Flags: parts[3]}
	if allZero(tc.TraceID) || allZero(tc.SpanID) {
		return TraceContext{}, fmt.Errorf("traceparent %q has an all-zero trace or parent id, which W3C Trace Context makes invalid", clip(s))
	}
	return tc, nil
}

// Valid reports whether tc is a usable span: both ids well formed and not
// all zero.
func (tc TraceContext) Valid() bool {
	_, err := ParseTraceParent(tc.String())
	return err == nil
}

// String is tc as a traceparent.
func (tc TraceContext) String() string {
	flags := tc.Flags
	if flags == "" {
		flags = "01"
	}
	return "00-" + tc.TraceID + "-" + tc.SpanID + "-" + flags
}

// NewTrace starts a trace: a fresh trace id and span id, sampled.
func NewTrace() TraceContext {
	return TraceContext{TraceID: randomHex(16), SpanID: randomHex(8), Flags: "01"}
}

// Child is a new span in tc's trace (with tc's flags).
func (tc TraceContext) Child() TraceContext {
	flags := tc.Flags
	if flags == "" {
		flags = "01"
	}
	return TraceContext{TraceID: tc.TraceID, SpanID: randomHex(8), Flags: flags}
}

// Trace is the trace context the event carries (its traceparent: the
// episode's trace, and the span of the command that published it); ok is
// false for an event without one (stored before crisisbus traced) or with
// a malformed one (which validation refuses).
func (e Event) Trace() (TraceContext, bool) {
	if e.TraceParent == "" {
		return TraceContext{}, false
	}
	tc, err := ParseTraceParent(e.TraceParent)
	return tc, err == nil
}

// Traced sets the event's trace context: the span that published it, and
// the vendors' tracestate (may be empty).
func Traced(tc TraceContext, state string) Option {
	return func(e *Event) { e.TraceParent, e.TraceState = tc.String(), state }
}

func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool { return strings.Trim(s, "0") == "" }

func randomHex(n int) string {
	b := make([]byte, n)
	for {
		_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b)
			}
		}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
