package broker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// Police cannot act as the AMHP service, nor read the AMHP view of the
// record (which holds clinical notes): the server drops both requests.
func TestPoliceCannotCallAnotherAgencysCommandsOrView(t *testing.T) {
	b := bustest.Start(t, "")
	amhp := bustest.Conn(t, b, events.AMHP)
	got := make(chan string, 4)
	sub, err := amhp.Subscribe("crisisbus.>", func(m *nats.Msg) { got <- m.Subject })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	amhp.Flush()

	violations := make(chan error, 4)
	police := bustest.Conn(t, b, events.Police, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	for _, subj := range []string{"crisisbus.amhp.handoff.accept", "crisisbus.record.amhp.view"} {
		if err := police.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-violations:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") || !strings.Contains(err.Error(), subj) {
				t.Errorf("publish to %s: server said %v, want a permissions violation naming it", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("publish to %s: no permissions violation", subj)
		}
	}
	// Its own commands and view still go through.
	for _, subj := range []string{"crisisbus.police.open", "crisisbus.record.police.view"} {
		if err := police.Publish(subj, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	police.Flush()
	for range 2 {
		select {
		case s := <-got:
			if !strings.HasPrefix(s, "crisisbus.police.") && s != "crisisbus.record.police.view" {
				t.Errorf("a police request reached %s", s)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("police's own requests did not arrive")
		}
	}
	select {
	case err := <-violations:
		t.Errorf("police's own subjects refused: %v", err)
	default:
	}
}
