package otlp_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/internal/tracing/otlp"
)

// collector is an OTLP/HTTP collector on loopback: what it was sent.
type collector struct {
	mu    sync.Mutex
	paths []string
	spans map[string]*tracepb.Span // by span id
	svc   map[string]string        // span id → service.name
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paths = append(c.paths, r.URL.Path)
	for _, rs := range req.ResourceSpans {
		service := ""
		for _, a := range rs.Resource.GetAttributes() {
			if a.Key == "service.name" {
				service = a.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				id := hex.EncodeToString(s.SpanId)
				c.spans[id], c.svc[id] = s, service
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// With --otel-endpoint, each span ends in the collector with the ids the
// events carry, its parent, the service that did the work and the episode.
func TestSpansReachTheCollectorWithTheEventsIDs(t *testing.T) {
	c := &collector{spans: map[string]*tracepb.Span{}, svc: map[string]string{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	x, err := otlp.Start(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	caller := events.NewTrace()
	ctx := tracing.WithRemote(context.Background(), caller, "")
	ctx, cmd := tracing.Start(ctx, "crisisbus-police", "crisisbus.police.open", "ep-1", "")
	_, consumed := tracing.Start(ctx, "crisisbus-clock", "clock-consumer", "ep-1", cmd.TraceID)
	consumed.End(errors.New("the store is full"))
	cmd.End(nil)
	if err := x.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.paths {
		if p != otlp.TracesPath {
			t.Errorf("sent to %s, want %s", p, otlp.TracesPath)
		}
	}
	for _, want := range []struct {
		span    *tracing.Span
		service string
		parent  string
		failed  bool
	}{{cmd, "crisisbus-police", caller.SpanID, false}, {consumed, "crisisbus-clock", cmd.SpanID, true}} {
		got, ok := c.spans[want.span.SpanID]
		if !ok {
			t.Fatalf("span %s (%s) never reached the collector (got %d spans)", want.span.SpanID, want.span.Name, len(c.spans))
		}
		if hex.EncodeToString(got.TraceId) != caller.TraceID || hex.EncodeToString(got.ParentSpanId) != want.parent ||
			got.Name != want.span.Name || c.svc[want.span.SpanID] != want.service {
			t.Errorf("span %s: trace %x parent %x name %q service %q; want trace %s parent %s name %q service %q",
				want.span.SpanID, got.TraceId, got.ParentSpanId, got.Name, c.svc[want.span.SpanID], caller.TraceID, want.parent, want.span.Name, want.service)
		}
		if failed := got.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR; failed != want.failed {
			t.Errorf("span %s: status %v, want failed %v", got.Name, got.Status, want.failed)
		}
		episode := ""
		for _, a := range got.Attributes {
			if a.Key == "crisisbus.episode" {
				episode = a.Value.GetStringValue()
			}
		}
		if episode != "ep-1" {
			t.Errorf("span %s: episode %q, want ep-1", got.Name, episode)
		}
	}
}

// An endpoint that is not an OTLP/HTTP collector's address is refused by name.
func TestABadEndpointIsRefused(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:4318":                 "http://127.0.0.1:4318/v1/traces",
		"https://collector.example/":     "https://collector.example/v1/traces",
		"http://otel:4318/custom/traces": "http://otel:4318/custom/traces",
	} {
		if got, err := otlp.Endpoint(in); err != nil || got != want {
			t.Errorf("Endpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://collector:21", "http://", "://"} {
		if _, err := otlp.Endpoint(bad); err == nil {
			t.Errorf("Endpoint(%q) was accepted", bad)
		}
	}
}
