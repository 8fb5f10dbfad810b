package natsbus_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// TestAConsumerDeletedUnderARunningServiceIsMadeAgainWhereItWas: someone
// deletes an agency's durable consumer on the server (a NATS tool, a
// mistyped command) while its service runs. The service says so in words,
// makes the consumer again from where it was, and handles what is offered
// after, without handling again what it had handled before.
func TestAConsumerDeletedUnderARunningServiceIsMadeAgainWhereItWas(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	core, logs := observer.New(zapcore.WarnLevel)
	amhp, err := natsbus.NewBus(bustest.Conn(t, b, events.AMHP), events.AMHP, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	admin := bustest.Bus(t, b, "")

	offer := func() events.Event {
		e, err := events.New(events.Police, events.NewEpisodeID(), &events.HandoffOffered{
			HandoffID: events.NewEpisodeID(), Kind: events.MHAAssessment, To: events.AMHP,
			Reason: "detained under s136 at the place of safety", Urgency: "emergency",
			Summary: events.Summary{Facts: []events.Fact{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatalf("publish: %v", err)
		}
		return e
	}
	var got received
	sub, err := amhp.Consume(ctx, natsbus.ConsumerConfig{Durable: "amhp-inbox", Filters: []string{events.InboxSubjects(events.AMHP)}},
		func(_ context.Context, e events.Event) error { got.add(e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	first := offer()
	bustest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if !slices.Contains(got.list(), first.ID) {
			return fmt.Errorf("the first offer was not handled: %v", got.list())
		}
		return nil
	})

	if err := admin.JetStream().DeleteConsumer(ctx, natsbus.Stream, "amhp-inbox"); err != nil {
		t.Fatalf("delete the consumer: %v", err)
	}
	second := offer()
	bustest.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		if !slices.Contains(got.list(), second.ID) {
			return fmt.Errorf("the offer made after the consumer was deleted was not handled: %v", got.list())
		}
		return nil
	})
	if n := len(got.list()); n != 2 {
		t.Errorf("handled %v, want each offer once", got.list())
	}
	if _, err := admin.JetStream().Consumer(ctx, natsbus.Stream, "amhp-inbox"); err != nil {
		t.Errorf("the consumer is not there again: %v", err)
	}
	said := false
	for _, l := range logs.All() {
		if strings.Contains(l.Message, "deleted") && strings.Contains(l.Message, "made again") {
			said = true
		}
	}
	if !said {
		t.Errorf("the log does not say the consumer was deleted and made again: %v", logs.All())
	}
	// A restart of the service takes the consumer as it now is.
	sub.Stop()
	sub2, err := amhp.Consume(ctx, natsbus.ConsumerConfig{Durable: "amhp-inbox", Filters: []string{events.InboxSubjects(events.AMHP)}},
		func(_ context.Context, e events.Event) error { got.add(e); return nil })
	if err != nil {
		t.Fatalf("consume again after a restart: %v", err)
	}
	defer sub2.Stop()
	third := offer()
	bustest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if !slices.Contains(got.list(), third.ID) {
			return fmt.Errorf("the offer after the restart was not handled: %v", got.list())
		}
		return nil
	})
	if n := len(got.list()); n != 3 {
		t.Errorf("handled %v, want each offer once", got.list())
	}
}
