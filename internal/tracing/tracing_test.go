package tracing_test

import (
	"context"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// A command on a new episode with no caller's trace starts a trace; one on
// an episode continues the episode's; a caller's span in the same trace is
// the parent, one in another trace is not.
func TestAStartedSpanContinuesTheEpisodesTrace(t *testing.T) {
	ctx := context.Background()
	_, first := tracing.Start(ctx, "crisisbus-police", "open", "ep", "")
	if !first.Valid() || first.Parent != "" {
		t.Fatalf("a new episode's first span %+v: want a new trace with no parent", first)
	}
	_, later := tracing.Start(ctx, "crisisbus-spoa", "triage.advice", "ep", first.TraceID)
	if later.TraceID != first.TraceID || later.SpanID == first.SpanID || later.Parent != "" {
		t.Fatalf("a later command's span %+v: want the episode's trace %s, a new span", later, first.TraceID)
	}

	caller := events.NewTrace()
	rctx := tracing.WithRemote(ctx, caller, "acme=1")
	_, opened := tracing.Start(rctx, "crisisbus-police", "open", "ep2", "")
	if opened.TraceID != caller.TraceID || opened.Parent != caller.SpanID || opened.State != "acme=1" {
		t.Fatalf("a caller's episode opened in span %+v: want the caller's trace %s, parent %s", opened, caller.TraceID, caller.SpanID)
	}
	_, other := tracing.Start(rctx, "crisisbus-police", "voice", "ep", first.TraceID)
	if other.TraceID != first.TraceID || other.Parent != "" {
		t.Fatalf("a caller in another trace: span %+v, want the episode's trace %s without the caller as parent", other, first.TraceID)
	}
}

// Events are published under the local span, never under a caller's.
func TestOnlyTheWorkBeingDoneIsLocal(t *testing.T) {
	ctx := tracing.WithRemote(context.Background(), events.NewTrace(), "")
	if _, ok := tracing.Local(ctx); ok {
		t.Fatal("a caller's span counts as the work being done")
	}
	ctx, s := tracing.Start(ctx, "crisisbus-amhp", "outcome", "ep", "")
	got, ok := tracing.Local(ctx)
	if !ok || got.SpanID != s.SpanID {
		t.Fatalf("Local = %+v, %v; want the started span %s", got, ok, s.SpanID)
	}
	f := tracing.Fields(ctx)
	if len(f) != 2 || f[0].Key != "trace_id" || f[0].String != s.TraceID || f[1].Key != "span_id" || f[1].String != s.SpanID {
		t.Fatalf("log fields %+v", f)
	}
}

// The second piece of work of one command is a child of the first; the
// reply names the first.
func TestACommandsSecondPieceOfWorkIsAChildOfTheFirst(t *testing.T) {
	ctx, first := tracing.Recording(context.Background(), "crisisbus.amhp.outcome")
	_, a := tracing.Start(ctx, "crisisbus-amhp", "", "ep", "")
	_, b := tracing.Start(ctx, "crisisbus-amhp", "", "ep", a.TraceID)
	if b.Parent != a.SpanID || a.Name != "crisisbus.amhp.outcome" {
		t.Fatalf("second span %+v, first %+v: want the first as parent, named for the command", b, a)
	}
	if s, ok := first(); !ok || s.SpanID != a.SpanID {
		t.Fatalf("the command's span is %+v (%v), want the first %s", s, ok, a.SpanID)
	}
}
