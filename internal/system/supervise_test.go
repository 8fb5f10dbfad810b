package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

type fakeNow struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeNow) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeNow) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// closeForGood makes the server close nc the way it closed the record's
// connection when a console user asked for a 5,000-character episode id:
// a protocol line longer than the server reads. nats.go does not reconnect
// after it.
func closeForGood(t *testing.T, nc *nats.Conn) {
	t.Helper()
	_ = nc.Publish("crisis."+strings.Repeat("x", 5000), nil)
	_ = nc.Flush()
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !nc.IsClosed() {
			return fmt.Errorf("the connection is %v, not closed", nc.Status())
		}
		return nil
	})
	if err := nc.LastError(); err == nil || !strings.Contains(err.Error(), "maximum control line exceeded") {
		t.Fatalf("the connection closed with %v, not the server's protocol error", err)
	}
}

func call[Req, Resp any](t *testing.T, nc *nats.Conn, subject string, req Req) Resp {
	t.Helper()
	resp, err := rpc.Call[Req, Resp](context.Background(), nc, subject, req)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	return resp
}

// view reads the agency's view of the episode once the record holds the
// event after (the last event of the command just answered).
func view(t *testing.T, nc *nats.Conn, a events.Agency, ep string, after agency.Receipt) episode.View {
	t.Helper()
	resp := call[record.ViewRequest, record.ViewResponse](t, nc, record.ViewSubject(a),
		record.ViewRequest{Episode: ep, Viewer: "duty worker", Purpose: "checking the service answers again", Reason: "a test reads every agency's view",
			After: after.Events[len(after.Events)-1]})
	raw := resp.View
	var v episode.View
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Every service whose connection the server closes for good is started
// again on a new connection and answers: the agencies' commands, their
// inbox consumers, the record's views and worklists, the clock's breaches,
// the console's page on the same address, the audit log.
func TestEveryServiceComesBackAfterTheServerClosesItsConnectionForGood(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	clock := &fakeNow{now: time.Date(2026, 11, 20, 22, 40, 0, 0, time.UTC)}
	ctx := context.Background()
	sys, err := Start(ctx, Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Now: clock.Now,
		Log: zap.New(zapcore.NewTee(core, bustest.Logger().Core()))})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	consoleURL := strings.TrimPrefix(sys.URLs[0], "console: ")
	if len(sys.services) != len(Services()) {
		t.Fatalf("%d services supervised, want all %d", len(sys.services), len(Services()))
	}

	start := time.Now()
	for _, sv := range sys.services {
		old := sv.conn()
		closeForGood(t, old)
		bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
			if nc := sv.conn(); nc == old || !nc.IsConnected() {
				return fmt.Errorf("service %s is not on a new connection yet", sv.svc.Name)
			}
			return nil
		})
	}
	t.Logf("%d services closed for good one after another and started again in %s", len(sys.services), time.Since(start).Round(time.Millisecond))
	var slowest time.Duration
	for _, sv := range sys.services {
		closed := logs.FilterMessageSnippet("closed this service's connection for good").FilterField(zap.String("service", sv.svc.Name)).All()
		again := logs.FilterMessage("service started again and answering").FilterField(zap.String("service", sv.svc.Name)).All()
		if len(closed) > 0 && len(again) > 0 {
			took := again[0].Time.Sub(closed[0].Time)
			slowest = max(slowest, took)
			t.Logf("%s answered again %s after its connection was closed", sv.svc.Name, took.Round(time.Millisecond))
		}
		if n := logs.FilterMessageSnippet("closed this service's connection for good").FilterField(zap.String("service", sv.svc.Name)).
			FilterField(zap.String("cause", "nats: maximum control line exceeded")).Len(); n != 1 {
			t.Errorf("service %s: %d log entries say its connection was closed by the server, want 1", sv.svc.Name, n)
		}
		if n := logs.FilterMessage("service started again and answering").FilterField(zap.String("service", sv.svc.Name)).Len(); n != 1 {
			t.Errorf("service %s: %d log entries say it started again, want 1", sv.svc.Name, n)
		}
	}
	t.Logf("the slowest service answered again %s after its connection was closed", slowest.Round(time.Millisecond))

	admin, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	nc := admin.Conn()
	// Every agency answers a command and the record its worklist.
	for _, a := range events.Agencies {
		call[agency.OpenRequest, agency.OpenResponse](t, nc, agency.Subject(a, "open"), agency.OpenRequest{Actor: "duty worker", Channel: "101", Summary: "checking the service answers"})
		call[record.WorklistRequest, record.WorklistResponse](t, nc, record.WorklistSubject(a), record.WorklistRequest{Viewer: "duty worker", Purpose: "start of shift"})
	}
	// A referral: offered by the ambulance service, acknowledged by SPoA's
	// inbox consumer, escalated by the clock when nobody accepts it in 4
	// hours, then accepted.
	ep := call[agency.OpenRequest, agency.OpenResponse](t, nc, agency.Subject(events.Ambulance, "open"), agency.OpenRequest{
		Actor: "EOC call handler 77", Channel: "999", Summary: "son says his mother hears voices telling her to hurt herself"}).Episode
	offer := call[agency.OfferRequest, agency.OfferResponse](t, nc, agency.Subject(events.Ambulance, "handoff.offer"), agency.OfferRequest{
		Base: agency.Base{Episode: ep, Actor: "EOC clinician Dev"}, Kind: events.SPoAReferral, To: events.SPoA, Reason: "needs the crisis team today", Urgency: "urgent"})
	handoff := func(want func(h *episode.Handoff) error) {
		t.Helper()
		bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			v := view(t, nc, events.SPoA, ep, offer.Receipt)
			return want(v.Handoff(offer.HandoffID))
		})
	}
	handoff(func(h *episode.Handoff) error {
		if h == nil || h.State != episode.Acknowledged {
			return fmt.Errorf("handoff %+v, want acknowledged by SPoA's inbox", h)
		}
		return nil
	})
	clock.Advance(5 * time.Hour)
	handoff(func(h *episode.Handoff) error {
		if h == nil || !h.Escalated {
			return fmt.Errorf("handoff %+v, want escalated by the clock", h)
		}
		return nil
	})
	accepted := call[agency.HandoffRequest, agency.Receipt](t, nc, agency.Subject(events.SPoA, "handoff.accept"),
		agency.HandoffRequest{Base: agency.Base{Episode: ep, Actor: "SPoA nurse Ola"}, HandoffID: offer.HandoffID})
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if v := view(t, nc, events.Police, ep, accepted); v.Owner != events.SPoA {
			return fmt.Errorf("owner %q, want spoa", v.Owner)
		}
		return nil
	})
	// The audit log logs the new episode's events.
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if logs.FilterLoggerName("audit-log").FilterMessage("event").FilterField(zap.String("episode", ep)).Len() == 0 {
			return errors.New("the audit log has not logged the new episode")
		}
		return nil
	})
	// The console answers on the address it first took.
	resp, err := http.Get(consoleURL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("console sign-in page: %s", resp.Status)
	}
}
