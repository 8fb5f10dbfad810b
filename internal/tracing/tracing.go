// Package tracing follows one crisis episode across the agencies' services:
// the span of the work a service is doing (a command handled, an event
// consumed) travels in a context.Context, every event published under it
// carries it as its traceparent (natsbus stamps it), and every log line
// about the episode names its trace and span. One episode is one trace
// (events/trace.go).
//
// A span ends in an exporter when one is set (SetExporter: the
// OpenTelemetry one, switched on by configuration); none is by default, and
// nothing leaves the process.
package tracing

import (
	"context"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
)

// Header is the NATS header (as the HTTP one) carrying a caller's trace
// context on a request; TraceStateHeader carries its tracestate.
const (
	Header           = "traceparent"
	TraceStateHeader = "tracestate"
	// ResponseHeader on a command's reply is the span that handled it (W3C
	// Trace Context level 2's traceresponse): the parent of every event the
	// command stored.
	ResponseHeader = "traceresponse"
)

// Span is a piece of work in an episode's trace.
type Span struct {
	events.TraceContext
	Parent  string // the parent span's id; "" when the span starts its trace
	State   string // tracestate, carried from the parent
	Service string // who did the work: the agency's service, the clock, the record
	Name    string // what: a command's subject, a consumer's name
	Episode string
	Start   time.Time
	// Remote is a caller's span (from a request's traceparent header), the
	// parent of the next span started, never one events are published under.
	Remote bool
}

type key struct{}

// From returns the span ctx carries.
func From(ctx context.Context) (Span, bool) {
	s, ok := ctx.Value(key{}).(*Span)
	if !ok || s == nil {
		return Span{}, false
	}
	return *s, true
}

// Local returns the span of the work being done (not a caller's).
func Local(ctx context.Context) (Span, bool) {
	s, ok := From(ctx)
	return s, ok && !s.Remote
}

// WithRemote is ctx carrying a caller's span: the next Start continues
// the caller's trace (when it is the episode's, or the episode is new).
func WithRemote(ctx context.Context, tc events.TraceContext, state string) context.Context {
	return context.WithValue(ctx, key{}, &Span{TraceContext: tc, State: state, Remote: true})
}

// Start begins a span of service's work name on episode, in trace traceID
// (the episode's; "" when the episode has none yet). Its parent is the span
// ctx carries when that is in the same trace (or traceID is ""), or else
// the first span of the command being handled (Recording) in that trace;
// with no trace at all, it starts one. End it with End.
func Start(ctx context.Context, service, name, episode, traceID string) (context.Context, *Span) {
	s := &Span{Service: service, Name: name, Episode: episode, Start: time.Now()}
	parent, ok := From(ctx)
	// A command that does two pieces of work (records the outcome, then
	// refers on) is one tree: the second's parent is the first's span.
	if r, rok := ctx.Value(recorderKey{}).(*recorder); rok && r.s != nil && !r.replies &&
		(!ok || parent.Remote) && (traceID == "" || r.s.TraceID == traceID) {
		parent, ok = *r.s, true
	}
	switch {
	case ok && (traceID == "" || parent.TraceID == traceID):
		s.TraceContext, s.Parent, s.State = parent.Child(), parent.SpanID, parent.State
	case traceID != "":
		s.TraceContext = events.TraceContext{TraceID: traceID, Flags: "01"}.Child()
	default:
		s.TraceContext = events.NewTrace()
	}
	record(ctx, s)
	if s.Name == "" {
		s.Name = "command"
	}
	return context.WithValue(ctx, key{}, s), s
}

// Consume begins the span of handling event e (a consumer's work): a child
// of the span that published it, in the episode's trace. An event without
// trace context starts no span: ctx is returned as it is.
func Consume(ctx context.Context, service, name string, e events.Event) (context.Context, *Span) {
	tc, ok := e.Trace()
	if !ok {
		return ctx, nil
	}
	ctx = WithRemote(ctx, tc, e.TraceState)
	return Start(ctx, service, name, e.Subject, tc.TraceID)
}

// Event is the trace context of an event published under s.
func (s *Span) Event() events.Option { return events.Traced(s.TraceContext, s.State) }

// End ends the span; err is what the work failed with, if it did. A nil
// span (no trace) ends nothing.
func (s *Span) End(err error) {
	if s == nil {
		return
	}
	if x := exporter.Load(); x != nil {
		(*x).Export(*s, time.Now(), err)
	}
}

// Fields are the log fields of ctx's span: trace_id and span_id, beside the
// episode. None when ctx carries no span.
func Fields(ctx context.Context) []zap.Field {
	s, ok := From(ctx)
	if !ok {
		return nil
	}
	return []zap.Field{zap.String("trace_id", s.TraceID), zap.String("span_id", s.SpanID)}
}

// EventFields are the log fields of the trace event e carries: its trace
// and the span that published it. None for an event without one.
func EventFields(e events.Event) []zap.Field {
	tc, ok := e.Trace()
	if !ok {
		return nil
	}
	return []zap.Field{zap.String("trace_id", tc.TraceID), zap.String("span_id", tc.SpanID)}
}

// Exporter receives each span as it ends.
type Exporter interface {
	Export(s Span, end time.Time, err error)
}

var exporter atomic.Pointer[Exporter]

// SetExporter sends every span that ends from now on to x (nil: none).
func SetExporter(x Exporter) {
	if x == nil {
		exporter.Store(nil)
		return
	}
	exporter.Store(&x)
}

type recorderKey struct{}

type recorder struct {
	name    string
	replies bool // a caller's: notes the span of a reply, not one started
	s       *Span
}

// Recording is ctx noting the first span started under it (a command's
// span, for its reply's traceresponse header); first returns it. A span
// started without a name takes name (the command's subject).
func Recording(ctx context.Context, name string) (_ context.Context, first func() (Span, bool)) {
	r := &recorder{name: name}
	return context.WithValue(ctx, recorderKey{}, r), func() (Span, bool) {
		if r.s == nil {
			return Span{}, false
		}
		return *r.s, true
	}
}

func record(ctx context.Context, s *Span) {
	r, ok := ctx.Value(recorderKey{}).(*recorder)
	if !ok || r.replies != s.Remote {
		return
	}
	if s.Name == "" {
		s.Name = r.name
	}
	if r.s == nil {
		r.s = s
	}
}

// Replies is ctx noting the span that handled the first command sent under
// it (its reply's traceresponse header, see Replied), so the caller can
// log it beside the episode; first returns it.
func Replies(ctx context.Context) (_ context.Context, first func() (Span, bool)) {
	r := &recorder{replies: true}
	return context.WithValue(ctx, recorderKey{}, r), func() (Span, bool) {
		if r.s == nil {
			return Span{}, false
		}
		return *r.s, true
	}
}

// Replied notes, on a Replies ctx, the span that handled a command sent
// under it.
func Replied(ctx context.Context, tc events.TraceContext) {
	record(ctx, &Span{TraceContext: tc, Remote: true})
}
