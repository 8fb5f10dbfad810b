package events_test

import (
	"errors"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// A command that decided on what it read publishes only if the episode has
// not changed since; Replay reads back one episode's timeline in order.
func TestPublishExpectingTheEpisodeSequenceRefusesWhenSomethingSlippedIn(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	record := bustest.Bus(t, b, events.Record) // the reader of episodes
	ep, other := events.NewEpisodeID(), events.NewEpisodeID()

	first := detention(t, ep)
	if _, err := police.Publish(ctx, first, events.ExpectEpisodeSeq(0)); err != nil {
		t.Fatalf("first fact of a new episode: %v", err)
	}
	if _, err := police.Publish(ctx, detention(t, other)); err != nil { // another episode does not matter
		t.Fatal(err)
	}
	var seen []string
	last, err := record.Replay(ctx, events.EpisodeSubjects(ep), func(e events.Event, _ uint64) error { seen = append(seen, e.ID); return nil }, nil)
	if err != nil || len(seen) != 1 || seen[0] != first.ID {
		t.Fatalf("replay: %v, %v", seen, err)
	}
	second := detention(t, ep)
	if _, err := police.Publish(ctx, second, events.ExpectEpisodeSeq(last)); err != nil {
		t.Fatalf("publish on the sequence just read: %v", err)
	}
	_, err = police.Publish(ctx, detention(t, ep), events.ExpectEpisodeSeq(last))
	if !errors.Is(err, events.ErrConflict) {
		t.Fatalf("publish on a stale sequence: %v, want ErrConflict", err)
	}
	seen = nil
	if _, err := record.Replay(ctx, events.EpisodeSubjects(ep), func(e events.Event, _ uint64) error { seen = append(seen, e.ID); return nil }, nil); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[1] != second.ID {
		t.Fatalf("after the refused publish the episode holds %v, want the two facts", seen)
	}
	n := 0
	if last, err := record.Replay(ctx, events.EpisodeSubjects(events.NewEpisodeID()), func(events.Event, uint64) error { n++; return nil }, nil); err != nil || last != 0 || n != 0 {
		t.Fatalf("replay of an empty episode: last %d, %d events, %v", last, n, err)
	}
}
