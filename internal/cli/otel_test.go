package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// `up --otel-endpoint` sends the collector a span for the command that
// opened an episode, with the trace id its events carry, from the police
// service, and spans of the record, which consumed them.
func TestUpExportsSpansToAnOpenTelemetryCollector(t *testing.T) {
	var mu sync.Mutex
	services := map[string]map[string]bool{} // trace id → service names
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range req.ResourceSpans {
			svc := ""
			for _, a := range rs.Resource.GetAttributes() {
				if a.Key == "service.name" {
					svc = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					id := hex.EncodeToString(s.TraceId)
					if services[id] == nil {
						services[id] = map[string]bool{}
					}
					services[id][svc] = true
				}
			}
		}
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer srv.Close()

	dir := t.TempDir()
	url, _, _ := startUpWith(t, dir, "--otel-endpoint", srv.URL)
	creds, err := broker.LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := broker.ConnectAs(url, creds, events.Police)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	open, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](context.Background(), nc, agency.Subject(events.Police, "open"),
		agency.OpenRequest{Actor: "call handler 1123", Channel: "999", Summary: "man on the bridge"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := broker.ConnectAs(url, creds, "")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	msg, err := admin.RequestWithContext(context.Background(), natsbus.APIPrefix+".DIRECT.GET.CRISIS", fmt.Appendf(nil, `{"next_by_subj":"crisis.police.%s.>"}`, open.Episode))
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Parse(msg.Data)
	if err != nil {
		t.Fatalf("the episode's first event: %v (%s)", err, msg.Data)
	}
	tc, ok := e.Trace()
	if !ok {
		t.Fatalf("the episode's first event carries no trace context: %s", msg.Data)
	}
	// The batch goes out every few seconds.
	bustest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		for _, want := range []string{"crisisbus-police", "crisisbus-record"} {
			if !services[tc.TraceID][want] {
				return fmt.Errorf("no span of %s in trace %s yet (%v)", want, tc.TraceID, services[tc.TraceID])
			}
		}
		return nil
	})
}
