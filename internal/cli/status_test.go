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
