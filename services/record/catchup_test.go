package record_test

import (
	"context"
	"encoding/json"
	"errors"
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

// The record is killed (its connection to the server cut, as when its
// process dies) while it folds a backlog of 20,000 events in runs: some
// views are written, others not, nothing acknowledged for them. Started
// again, it ends with every view as a fresh fold of the stream gives it:
// no fact lost, none applied twice.
func TestTheRecordKilledMidCatchUpEndsAsAFreshRebuild(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	const n = 20_000
	eps := storeEpisodes(t, police, n, 200)

	first := bustest.Bus(t, b, events.Record)
	r1, err := record.Start(ctx, record.Config{Bus: first})
	if err != nil {
		t.Fatal(err)
	}
	// Kill it as soon as the first views are written.
	admin := bustest.Bus(t, b, events.Record)
	store, err := record.OpenStore(ctx, admin.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 60*time.Second, 2*time.Millisecond, func() error {
		for _, ep := range eps[:20] {
			if _, _, ok, err := store.Get(ctx, ep); err != nil || ok {
				return err
			}
		}
		return errors.New("no view written yet")
	})
	first.Conn().Close()
	r1.Stop()
	done := 0
	for _, ep := range eps {
		if v, _, _, err := store.Get(ctx, ep); err != nil {
			t.Fatal(err)
		} else if len(v.Timeline) == 50 {
			done++
		}
	}
	if done == len(eps) {
		t.Fatalf("every view was complete when the record was killed: the test did not kill it mid-catch-up")
	}
	t.Logf("killed with %d of %d episodes' views complete", done, len(eps))

	second := bustest.Bus(t, b, events.Record)
	r2, err := record.Start(ctx, record.Config{Bus: second})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	waitApplied(t, second, n)
	for _, ep := range eps {
		got, _, ok, err := store.Get(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := record.Load(ctx, admin, ep)
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if !ok || string(gotJSON) != string(wantJSON) || len(got.Timeline) != 50 {
			t.Fatalf("episode %s: the record holds %d facts (stored %v), a fresh fold of the stream %d, or they differ:\n%s\n%s",
				ep, len(got.Timeline), ok, len(want.Timeline), gotJSON, wantJSON)
		}
	}
}
