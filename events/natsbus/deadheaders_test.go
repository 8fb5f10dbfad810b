package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// A command's facts are stored as one batch, and the server keeps the
// batch's headers on each stored message. An AMHP inbox that cannot handle
// such a fact (here it fails for good) must set it aside in the dead-letter
// stream, where the operator finds it, like any other: were the batch's
// headers sent with the dead letter, the dead-letter stream would take it
// for a batch of its own and refuse it, and the fact would stay on the
// inbox, tried again for ever.
func TestAFactStoredAsPartOfACommandIsDeadLetteredLikeAnyOther(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	ep := events.NewEpisodeID()
	offer := offerTo(t, ep, events.AMHP)
	if _, err := police.PublishAtomic(ctx, []events.Event{detention(t, ep), offer}, natsbus.ExpectEpisodeSeq(0)); err != nil {
		t.Fatal(err)
	}
	sub, err := bustest.Bus(t, b, events.AMHP).Consume(ctx, natsbus.ConsumerConfig{Durable: rights.InboxDurable(events.AMHP),
		Filters: []string{events.InboxSubjects(events.AMHP)}, Backoff: []time.Duration{50 * time.Millisecond}},
		func(context.Context, events.Event) error {
			return natsbus.Permanent(errors.New("no AMHP rota for this area"))
		})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	dead := deadLetters(t, bustest.Bus(t, b, ""), rights.InboxDurable(events.AMHP), 1)
	if r := dead[0].Headers().Get(natsbus.HeaderDeadReason); !strings.Contains(r, "no AMHP rota for this area") {
		t.Fatalf("dead-letter reason = %q, want the handler's error", r)
	}
	if got, err := events.Parse(dead[0].Data()); err != nil || got.ID != offer.ID {
		t.Fatalf("the dead letter holds %v (%v), want the offer %s", got.ID, err, offer.ID)
	}
}

// An agency's user can store, under its own prefix, messages carrying the
// server's own headers: a batch's (a batch of one, committed), or an
// expectation that held when it was stored (the stream's last sequence, or
// last message id). Addressed to another agency and not a usable event,
// each must still be set aside in the dead-letter stream, once, and the
// inbox carry on: sent again with the dead letter, the batch's headers had
// the dead-letter stream refuse it for ever (the message tried again,
// every consumer of the stream logging an error at each try, and enough of
// them holding every message the consumer may have outstanding), and a
// stale expectation had it dropped without being stored.
func TestMessagesCarryingTheServersHeadersAreDeadLetteredOnce(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	nc := bustest.Conn(t, b, events.Police)
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	to := func() string { return "crisis.police." + events.NewEpisodeID() + ".note_v1." + string(events.AMHP) }

	// A batch of one, committed: stored with Nats-Batch-Id, -Sequence, -Commit.
	m := nats.NewMsg(to())
	m.Header.Set("Nats-Batch-Id", uuid.NewString())
	m.Header.Set("Nats-Batch-Sequence", "1")
	m.Header.Set("Nats-Batch-Commit", "1")
	m.Data = []byte(`{"not":"an event"}`)
	r, err := nc.RequestMsg(m, 10*time.Second)
	if err != nil || !strings.Contains(string(r.Data), `"seq"`) {
		t.Fatalf("a batch of one: %v %s", err, data(r))
	}
	// The stream's last sequence, and its last message id, as expected.
	m = nats.NewMsg(to())
	m.Header.Set(jetstream.MsgIDHeader, uuid.NewString())
	m.Data = []byte(`{"not":"an event"}`)
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	last := m.Header.Get(jetstream.MsgIDHeader)
	m = nats.NewMsg(to())
	m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(ack.Sequence, 10))
	m.Header.Set(jetstream.ExpectedLastMsgIDHeader, last)
	m.Data = []byte(`{"not":"an event"}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	police := bustest.Bus(t, b, events.Police)
	offer := offerTo(t, events.NewEpisodeID(), events.AMHP)
	if _, err := police.Publish(ctx, offer); err != nil {
		t.Fatal(err)
	}

	var got received
	sub, err := bustest.Bus(t, b, events.AMHP).Consume(ctx, natsbus.ConsumerConfig{Durable: rights.InboxDurable(events.AMHP),
		Filters: []string{events.InboxSubjects(events.AMHP)}, Backoff: []time.Duration{50 * time.Millisecond}},
		func(_ context.Context, e events.Event) error { got.add(e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	dead := deadLetters(t, bustest.Bus(t, b, ""), rights.InboxDurable(events.AMHP), 3)
	for _, d := range dead {
		if r := d.Headers().Get(natsbus.HeaderDeadReason); !strings.HasPrefix(r, "rejected: ") {
			t.Errorf("dead letter of %s: reason %q, want it rejected", d.Headers().Get(natsbus.HeaderDeadSubject), r)
		}
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if ids := got.list(); len(ids) != 1 || ids[0] != offer.ID {
			return fmt.Errorf("the inbox handled %v, want the offer %s", ids, offer.ID)
		}
		return nil
	})
	// Nothing is left on the inbox to try again.
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		c, err := bustest.Bus(t, b, "").JetStream().Consumer(ctx, natsbus.Stream, rights.InboxDurable(events.AMHP))
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending != 0 || info.NumPending != 0 {
			return fmt.Errorf("the AMHP inbox still holds %d delivered and %d undelivered messages", info.NumAckPending, info.NumPending)
		}
		return nil
	})
}

func data(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}
