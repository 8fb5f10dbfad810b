package natsbus_test

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// stored is every event of episode the stream holds, as the admin reads it.
func stored(t *testing.T, admin *natsbus.Bus, episode string) []string {
	t.Helper()
	var ids []string
	if _, err := admin.Replay(t.Context(), events.EpisodeSubjects(episode), func(e events.Event, _ uint64) error {
		ids = append(ids, e.ID)
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	return ids
}

// A command's facts are stored all or none: a detention and the place of
// safety asked for are one decision, and a store that kept the first fact
// and not the second would show a detention with no place asked for. Here
// the second fact's id is already held, so the server refuses it: the
// first must not be stored either, and the publisher is told.
func TestACommandsFactsAreStoredAllOrNone(t *testing.T) {
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	admin := bustest.Bus(t, b, "")
	ep := events.NewEpisodeID()
	detained := detention(t, ep)
	asked, err := events.New(events.Police, ep, &events.PlaceOfSafetyRequested{Notes: "needs a health-based place of safety"})
	if err != nil {
		t.Fatal(err)
	}
	js, err := natsbus.NewJetStream(police.Conn())
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("crisis.police." + events.NewEpisodeID() + ".note_v1")
	m.Header.Set(jetstream.MsgIDHeader, asked.ID)
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}

	_, err = police.PublishAtomic(t.Context(), []events.Event{detained, asked}, natsbus.ExpectEpisodeSeq(0))
	if !errors.Is(err, natsbus.ErrAlreadyHeld) {
		t.Fatalf("publishing a detention and a request for a place of safety whose id was held: got %v, want %v", err, natsbus.ErrAlreadyHeld)
	}
	if ids := stored(t, admin, ep); len(ids) != 0 {
		t.Fatalf("the request for a place of safety was refused, yet the stream holds %v of episode %s: half a command stored", ids, ep)
	}

	// Given fresh ids, both are stored, in order, with the last's sequence.
	asked.ID = events.NewEpisodeID()
	ack, err := police.PublishAtomic(t.Context(), []events.Event{detained, asked}, natsbus.ExpectEpisodeSeq(0))
	if err != nil {
		t.Fatal(err)
	}
	if ids := stored(t, admin, ep); len(ids) != 2 || ids[0] != detained.ID || ids[1] != asked.ID {
		t.Fatalf("episode %s holds %v, want [%s %s]", ep, ids, detained.ID, asked.ID)
	}
	if ack.Sequence == 0 {
		t.Error("the publish did not say where the last fact was stored")
	}

	// Decided on the episode before those two: nothing of a third command is stored.
	again := detention(t, ep)
	closed, err := events.New(events.Police, ep, &events.EpisodeClosed{Reason: "no further police action"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := police.PublishAtomic(t.Context(), []events.Event{again, closed}, natsbus.ExpectEpisodeSeq(0)); !errors.Is(err, natsbus.ErrConflict) {
		t.Fatalf("publishing on an episode changed since it was read: got %v, want %v", err, natsbus.ErrConflict)
	}
	if ids := stored(t, admin, ep); len(ids) != 2 {
		t.Fatalf("episode %s holds %v after a refused command, want the 2 stored before", ep, ids)
	}
}

// A stream provisioned by a crisisbus from before atomic commands does not
// take batches: a command's facts are then published one after another, as
// they were, and the service logs it; the next start provisions the stream
// to take them.
func TestAStreamFromBeforeBatchesTakesACommandInTurnUntilProvisionedAgain(t *testing.T) {
	b := bustest.Start(t, "")
	admin := bustest.Bus(t, b, "")
	st, err := admin.JetStream().Stream(t.Context(), natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	old := st.CachedInfo().Config
	old.AllowAtomicPublish = false
	if _, err := admin.JetStream().UpdateStream(t.Context(), old); err != nil {
		t.Fatalf("make the stream as an earlier crisisbus did: %v", err)
	}
	core, logs := observer.New(zap.WarnLevel)
	police, err := natsbus.NewBus(bustest.Conn(t, b, events.Police), events.Police, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	command := func() []events.Event {
		ep := events.NewEpisodeID()
		asked, err := events.New(events.Police, ep, &events.PlaceOfSafetyRequested{Notes: "needs a health-based place of safety"})
		if err != nil {
			t.Fatal(err)
		}
		return []events.Event{detention(t, ep), asked}
	}
	es := command()
	if _, err := police.PublishAtomic(t.Context(), es, natsbus.ExpectEpisodeSeq(0)); err != nil {
		t.Fatalf("a command on a stream from before batches: %v", err)
	}
	if ids := stored(t, admin, es[0].Subject); len(ids) != 2 {
		t.Fatalf("episode %s holds %v, want both facts", es[0].Subject, ids)
	}
	if logs.FilterMessageSnippet("one after another").Len() != 1 {
		t.Errorf("publishing a command's facts in turn was not logged: %v", logs.All())
	}

	if err := rights.Provision(t.Context(), admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	es = command()
	if _, err := police.PublishAtomic(t.Context(), es, natsbus.ExpectEpisodeSeq(0)); err != nil {
		t.Fatal(err)
	}
	if ids := stored(t, admin, es[0].Subject); len(ids) != 2 {
		t.Fatalf("episode %s holds %v, want both facts", es[0].Subject, ids)
	}
	if n := logs.FilterMessageSnippet("one after another").Len(); n != 1 {
		t.Errorf("once provisioned again, a command was still published in turn (%d logged)", n)
	}
}
