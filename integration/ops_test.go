package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
)

func (p *pathway) scrape() ops.Samples {
	p.t.Helper()
	s, err := ops.Scrape(context.Background(), p.sys.Ops.URL())
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// The counts a scenario caused show in a scrape of /metrics: one SPoA
// referral offered, acknowledged and accepted, with the five minutes it
// waited for acceptance; the police's commands counted as answered and
// one refused with its code; the disclosure of SPoA's view; the record's
// consumer caught up and every service ready. The counters are the
// process's, so the test compares a scrape before with one after.
func TestAScrapeOfMetricsFindsTheCountsAScenarioCaused(t *testing.T) {
	p := start(t)
	before := p.scrape()
	delta := func(after ops.Samples, name string, labels ...string) float64 {
		a, _ := after.Get(name, labels...)
		b, _ := before.Get(name, labels...)
		return a - b
	}

	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 2210", Channel: "101", Summary: "man on the bridge parapet, says he wants it to stop",
	}).Episode
	refused(p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 2209 Lowe"),
		Kind: events.SPoAReferral, To: events.SPoA, Urgency: "urgent"}, 400, "reason")
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 2209 Lowe"),
		Kind: events.SPoAReferral, To: events.SPoA, Reason: "calmer; needs the crisis team tonight", Urgency: "urgent"})
	p.acknowledged(ep, offer.HandoffID)
	p.clock.Advance(5 * time.Minute)
	do[agency.HandoffRequest, agency.Receipt](p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA clinician Ben"), HandoffID: offer.HandoffID})
	p.owner(ep, events.SPoA)
	p.view(ep, events.SPoA, "SPoA clinician Ben")

	spoa := []string{"kind", string(events.SPoAReferral), "agency", string(events.SPoA)}
	var after ops.Samples
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		after = p.scrape()
		for _, step := range []string{ops.Offered, ops.Acknowledged, ops.Accepted} {
			if d := delta(after, ops.HandoffsTotal, append(spoa, "step", step, "reason", "")...); d != 1 {
				return fmt.Errorf("%s %s went up by %v, want 1", ops.HandoffsTotal, step, d)
			}
		}
		if d := delta(after, ops.DisclosuresTotal, "agency", string(events.SPoA)); d < 1 {
			return fmt.Errorf("%s of spoa went up by %v, want at least 1", ops.DisclosuresTotal, d)
		}
		return nil
	})
	if d := delta(after, ops.HandoffsTotal, append(spoa, "step", ops.Declined, "reason", "other")...); d != 0 {
		t.Errorf("a declined referral counted (%v) where none was declined", d)
	}
	if n, s := delta(after, ops.HandoffAcceptSeconds+"_count", spoa...), delta(after, ops.HandoffAcceptSeconds+"_sum", spoa...); n != 1 || s != 300 {
		t.Errorf("time to accept: %v observations summing %vs, want 1 of 300s (the five minutes the offer waited)", n, s)
	}
	if n := delta(after, ops.HandoffAckSeconds+"_count", spoa...); n != 1 {
		t.Errorf("time to acknowledge: %v observations, want 1", n)
	}
	for _, c := range []struct {
		agency, command, outcome string
		want                     float64
	}{
		{"police", "open", "ok", 1},
		{"police", "handoff_offer", "ok", 1},
		{"police", "handoff_offer", "400", 1},
		{"spoa", "handoff_accept", "ok", 1},
	} {
		if d := delta(after, ops.CommandsTotal, "agency", c.agency, "command", c.command, "outcome", c.outcome); d != c.want {
			t.Errorf("%s %s %s counted %v times, want %v", c.agency, c.command, c.outcome, d, c.want)
		}
	}
	if n := delta(after, ops.CommandSeconds+"_count", "agency", "police", "command", "handoff_offer"); n != 2 {
		t.Errorf("handoff_offer's latency observed %v times, want 2 (one answered, one refused)", n)
	}
	if _, ok := after.Get(ops.ConsumerPending, "consumer", "episode-record"); !ok {
		t.Errorf("no %s for the record's consumer", ops.ConsumerPending)
	}
	for _, svc := range p.sys.Started {
		if v, _ := after.Get(ops.ServiceReady, "service", svc); v != 1 {
			t.Errorf("%s of %s is %v, want 1", ops.ServiceReady, svc, v)
		}
	}
	// The broker looks at its disk every two seconds.
	bustest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		s := p.scrape()
		used, _ := s.Get(ops.StoreBytes)
		free, _ := s.Get(ops.StoreDiskFreeBytes)
		if used <= 0 || free <= 0 {
			return fmt.Errorf("%s = %v, %s = %v: want the bytes the store holds and its disk has free", ops.StoreBytes, used, ops.StoreDiskFreeBytes, free)
		}
		return nil
	})
	if code, body := get(t, p.sys.Ops.URL()+"/readyz"); code != 200 {
		t.Errorf("/readyz answered %d: %s", code, body)
	}

	// A triage advice request SPoA acknowledges and leaves unaccepted past
	// its 15 minutes: the accept clock warns, breaches, and breaches again
	// five minutes later, unanswered.
	before = p.scrape()
	ep2 := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 2210", Channel: "999", Summary: "caller hearing voices telling him to walk into the sea",
	}).Episode
	advice := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep2, "PC 2209 Lowe"),
		Kind: events.TriageAdvice, To: events.SPoA, Reason: "needs mental health advice before attending", Urgency: "urgent"})
	p.acknowledged(ep2, advice.HandoffID)
	accept := []string{"clock", string(events.HandoffAcceptClock)}
	for _, step := range []struct {
		advance                     time.Duration
		warnings, breaches, repeats float64
	}{{14 * time.Minute, 1, 0, 0}, {2 * time.Minute, 1, 1, 0}, {5 * time.Minute, 1, 2, 1}} {
		p.clock.Advance(step.advance)
		bustest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
			after := p.scrape()
			w, b, r := delta(after, ops.ClockWarningsTotal, accept...), delta(after, ops.ClockBreachesTotal, accept...), delta(after, ops.ClockRepeatsTotal, accept...)
			if w != step.warnings || b != step.breaches || r != step.repeats {
				return fmt.Errorf("accept clock: %v warnings, %v breaches, %v repeats; want %v, %v, %v", w, b, r, step.warnings, step.breaches, step.repeats)
			}
			return nil
		})
	}
	if v, _ := p.scrape().Get(ops.ClocksLive); v < 1 {
		t.Errorf("%s = %v with the advice request's clock breached, want at least 1", ops.ClocksLive, v)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /readyz says not ready, and why, while the NATS server is stopped, and
// ready again once it is back; /healthz (the process is alive) stays 200.
func TestReadyzTurnsNotReadyWhenNATSStopsAndReadyWhenItReturns(t *testing.T) {
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	sys, err := system.Start(context.Background(), system.Config{NATSURL: b.URL(), Credentials: b.Credentials(),
		Only: []string{"episode-record", "police", "clock"}, MetricsAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	base := sys.Ops.URL()
	waitFor := func(want int, says string) {
		t.Helper()
		bustest.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
			if code, body := get(t, base+"/readyz"); code != want || !strings.Contains(body, says) {
				return fmt.Errorf("/readyz answered %d %q, want %d saying %q", code, body, want, says)
			}
			return nil
		})
	}
	waitFor(200, "episode-record: ready")

	b.Shutdown()
	waitFor(503, "not connected to NATS")
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz answered %d while NATS was down, want 200: the process is alive", code)
	}
	s, err := ops.Scrape(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Get(ops.ServiceReady, "service", "police"); !ok || v != 0 {
		t.Errorf("%s of police = %v (present %v) while NATS was down, want 0", ops.ServiceReady, v, ok)
	}

	bustest.StartAgain(t, b)
	waitFor(200, "police: ready")
}

// The console's requests, sign-ins, refused sign-ins and pages open with
// live updates show in a scrape, as a person signing in (once with a wrong
// password) and opening a page causes them.
func TestTheConsoleCountsRequestsSignInsRefusalsAndLivePages(t *testing.T) {
	p := start(t)
	console := p.sys.PageURL("console")
	if console == "" {
		t.Fatalf("no console in %v", p.sys.URLs)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	before := p.scrape()
	delta := func(after ops.Samples, name string, labels ...string) float64 {
		a, _ := after.Get(name, labels...)
		b, _ := before.Get(name, labels...)
		return a - b
	}

	resp, err := client.Get(console + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var token string
	cu, _ := url.Parse(console + "/signin")
	for _, c := range jar.Cookies(cu) {
		if c.Name == "crisisbus_signin" {
			token = c.Value
		}
	}
	signin := func(password string) int {
		t.Helper()
		resp, err := client.PostForm(console+"/signin", url.Values{"csrf": {token}, "username": {"spoa.clinician"}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := signin("not the password"); code != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong password was answered %d, want 422", code)
	}
	if code := signin("crisisbus-spoa"); code != http.StatusSeeOther {
		t.Fatalf("signing in was answered %d, want 303", code)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, console+"/live", nil)
	opened := make(chan error, 1)
	go func() {
		resp, err := client.Do(req)
		if err == nil {
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("/live answered %s", resp.Status)
			}
			opened <- err
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return
		}
		opened <- err
	}()
	if err := <-opened; err != nil {
		cancel()
		t.Fatal(err)
	}
	live := func(want float64) {
		t.Helper()
		bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			if d := delta(p.scrape(), ops.ConsoleLiveConnections); d != want {
				return fmt.Errorf("%s went up by %v, want %v", ops.ConsoleLiveConnections, d, want)
			}
			return nil
		})
	}
	live(1)
	cancel()
	live(0)

	after := p.scrape()
	if d := delta(after, ops.ConsoleSigninsTotal); d != 1 {
		t.Errorf("%s went up by %v, want 1", ops.ConsoleSigninsTotal, d)
	}
	if d := delta(after, ops.ConsoleRefusalsTotal, "code", "422"); d != 1 {
		t.Errorf("%s 422 went up by %v, want 1", ops.ConsoleRefusalsTotal, d)
	}
	for _, c := range []struct {
		method, code string
		want         float64
	}{{"GET", "200", 2}, {"POST", "303", 1}, {"POST", "422", 1}} {
		if d := delta(after, ops.ConsoleRequestsTotal, "method", c.method, "code", c.code); d != c.want {
			t.Errorf("console requests %s %s went up by %v, want %v", c.method, c.code, d, c.want)
		}
	}
}

// A scrape of /metrics and a look at /readyz of the whole system (eight
// durable consumers read, the dead-letter stream counted): what each
// Prometheus scrape or health check costs.
func BenchmarkScrapeOfTheWholeSystem(b *testing.B) {
	p := start(b)
	for b.Loop() {
		if _, err := ops.Scrape(context.Background(), p.sys.Ops.URL()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadyzOfTheWholeSystem(b *testing.B) {
	p := start(b)
	c := http.Client{Timeout: 5 * time.Second}
	for b.Loop() {
		resp, err := c.Get(p.sys.Ops.URL() + "/readyz")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("/readyz answered %d", resp.StatusCode)
		}
	}
}
