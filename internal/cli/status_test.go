package cli

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/clock"
)

// Any service may answer the discovery ping of every service: a police
// integrator answering it in every service's name must not have `status`
// report services running that are not. (The server lets a service send
// one answer to each request it receives.)
func TestStatusCountsOnlyTheServicesThemselves(t *testing.T) {
	b := bustest.Start(t, t.TempDir())
	police := bustest.Conn(t, b, events.Police)
	var names []string
	for _, id := range rights.Table() {
		names = append(names, id.Services...)
	}
	answer := func(m *nats.Msg) {
		for _, name := range names {
			ping, _ := json.Marshal(micro.Ping{ServiceIdentity: micro.ServiceIdentity{Name: name, ID: "forged", Version: "1.0.0"}, Type: micro.PingResponseType})
			_ = police.Publish(m.Reply, ping)
		}
	}
	for _, subj := range []string{"$SRV.PING", "$SRV.PING.crisisbus-police"} {
		if _, err := police.Subscribe(subj, answer); err != nil {
			t.Fatal(err)
		}
	}
	if err := police.Flush(); err != nil {
		t.Fatal(err)
	}
	r := &statusReport{w: io.Discard}
	if err := r.services(bustest.Conn(t, b, ""), 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if name == "crisisbus-"+string(events.Police) {
			continue // police's own service: its answer is its own
		}
		if !slices.ContainsFunc(r.needs, func(n string) bool { return strings.Contains(n, "service "+name+" does not answer") }) {
			t.Errorf("status took police's answer for %s, which is not running (needs: %q)", name, r.needs)
		}
	}
}

// A rebuild of the clocks cut short (the clock service killed part-way)
// leaves its record in the clocks' bucket: until it is done again no
// warning or breach is published, and status says so, and what to do.
func TestStatusSaysARebuildOfTheClocksHasNotFinished(t *testing.T) {
	b := bustest.Start(t, t.TempDir())
	admin := bustest.Bus(t, b, "")
	kv, err := admin.JetStream().KeyValue(t.Context(), rights.ClocksBucket)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(clock.RebuildRecord{Began: time.Date(2026, 11, 26, 2, 10, 0, 0, time.UTC), Why: "the clocks' bucket was lost"})
	if _, err := kv.Put(t.Context(), clock.RebuildMark, rec); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r := &statusReport{w: &out, missing: map[string]bool{}}
	if err := r.breaches(t.Context(), admin.JetStream()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "being rebuilt from the event stream, since 2026-11-26 02:10:00Z") ||
		!slices.ContainsFunc(r.needs, func(n string) bool { return strings.Contains(n, "rebuild of the clocks has not finished") }) {
		t.Errorf("status with a rebuild of the clocks unfinished said %q, needs %q", out.String(), r.needs)
	}
}
