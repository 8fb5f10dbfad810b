package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
)

// An earlier crisisbus's consumer gave up on a fact while the store was full
// (the server stopped delivering it after five tries): the record never
// applied it, and nothing would deliver it again. The record finds it
// missing, from its checkpoint, and rebuilds the episode from the stream.
func TestTheRecordRestoresAFactItsConsumerGaveUpOn(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	amhp := bustest.Bus(t, b, events.AMHP)
	rec := bustest.Bus(t, b, events.Record)
	r, err := record.Start(ctx, record.Config{Bus: rec})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()

	ep := events.NewEpisodeID()
	for _, e := range night(t, ep) {
		bus := police
		if e.Source == events.AMHP {
			bus = amhp
		}
		if _, err := bus.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// The consumer's third delivery is given up on (terminated, as the
	// server does after MaxDeliver); the first two are left to redeliver.
	cons, err := rec.JetStream().Consumer(ctx, natsbus.Stream, record.Durable)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var given string
	i := 0
	for m := range batch.Messages() {
		i++
		if i < 3 {
			_ = m.Nak()
			continue
		}
		e, err := events.Parse(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		given = e.Type
		if err := m.Term(); err != nil {
			t.Fatal(err)
		}
	}
	if i != 3 {
		t.Fatalf("fetched %d messages, want 3", i)
	}

	r2, err := record.Start(ctx, record.Config{Bus: rec, CatchUpEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	want, _, err := record.Load(ctx, rec, ep)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	bustest.CheckFor(t, 15*time.Second, 20*time.Millisecond, func() error {
		v, _, _, err := r2.Store().Get(ctx, ep)
		if err != nil {
			return err
		}
		if got, _ := json.Marshal(v); string(got) != string(wantJSON) {
			return fmt.Errorf("the record has %d of the episode's %d facts (the consumer gave up on %s), or not in order", len(v.Timeline), len(want.Timeline), given)
		}
		return nil
	})
}
