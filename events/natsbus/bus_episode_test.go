package natsbus_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
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
	if _, err := police.Publish(ctx, first, natsbus.ExpectEpisodeSeq(0)); err != nil {
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
	if _, err := police.Publish(ctx, second, natsbus.ExpectEpisodeSeq(last)); err != nil {
		t.Fatalf("publish on the sequence just read: %v", err)
	}
	_, err = police.Publish(ctx, detention(t, ep), natsbus.ExpectEpisodeSeq(last))
	if !errors.Is(err, natsbus.ErrConflict) {
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

// An episode longer than one read's batch, amid other episodes' facts, is
// read whole and in order, and reading it, however often, leaves no
// consumer on the stream: reads cost the same at any volume of traffic.
func TestReadingAnEpisodeReadsItWholeAndMakesNoConsumer(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	record := bustest.Bus(t, b, events.Record)
	ep := events.NewEpisodeID()
	var want []string
	for i := range 600 {
		e := detention(t, ep)
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
		if i%3 == 0 {
			if _, err := police.Publish(ctx, detention(t, events.NewEpisodeID())); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every consumer made, info asked or message fetched is a JetStream
	// API request the server counts; a direct get is not one.
	admin := bustest.Bus(t, b, "")
	apiRequests := func() uint64 {
		info, err := admin.JetStream().AccountInfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.API.Total
	}
	before := apiRequests()
	for range 20 {
		var got []string
		var prev uint64
		last, err := record.Replay(ctx, events.EpisodeSubjects(ep), func(e events.Event, seq uint64) error {
			if seq <= prev {
				t.Fatalf("sequence %d read after %d", seq, prev)
			}
			prev = seq
			got = append(got, e.ID)
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("read %d facts of the episode, want its %d in order", len(got), len(want))
		}
		if last != prev {
			t.Fatalf("read returned sequence %d, its last fact is at %d", last, prev)
		}
	}
	// One request: the account information asked for after the reads.
	if after := apiRequests(); after != before+1 {
		t.Fatalf("20 reads of an episode made %d JetStream API requests (consumers, fetches), want none", after-before-1)
	}
}

// A bulk read (a report, an export) removes its consumer when it finishes,
// so reports run all day leave the stream's consumer count where it was.
func TestABulkReadLeavesNoConsumerBehind(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	reader := bustest.Bus(t, b, events.Record) // an identity that reads the stream
	for range 20 {
		if _, err := police.Publish(ctx, detention(t, events.NewEpisodeID())); err != nil {
			t.Fatal(err)
		}
	}
	admin := bustest.Bus(t, b, "")
	stream, err := admin.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	consumers := func() int {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}
	before := consumers()
	for range 10 {
		n := 0
		if err := reader.ReplayRaw(ctx, natsbus.ReplayConfig{}, func(natsbus.Stored) error { n++; return nil }); err != nil || n != 20 {
			t.Fatalf("read %d of 20 events: %v", n, err)
		}
	}
	if after := consumers(); after != before {
		t.Fatalf("10 reads of the whole stream left %d consumers behind", after-before)
	}
}

// A projection far behind reads a range of the stream at once: exactly the
// events from the first sequence to the last asked, in order, across more
// than one batch, with no consumer made; a range running past the end
// stops at the last event stored.
func TestReadingARangeReadsExactlyItsEventsAndMakesNoConsumer(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	record := bustest.Bus(t, b, events.Record)
	var ids []string
	for range 700 {
		e := detention(t, events.NewEpisodeID())
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	read := func(from, to uint64) ([]string, []uint64, uint64) {
		t.Helper()
		var got []string
		var seqs []uint64
		last, err := record.ReadRange(ctx, from, to, func(e events.Event, seq uint64) error {
			got, seqs = append(got, e.ID), append(seqs, seq)
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got, seqs, last
	}
	got, seqs, last := read(5, 600)
	if !slices.Equal(got, ids[4:600]) || seqs[0] != 5 || last != 600 {
		t.Fatalf("read 5..600: %d events, sequences %d..%d, last %d; want the 596 stored there", len(got), seqs[0], seqs[len(seqs)-1], last)
	}
	if got, _, last := read(650, 5000); !slices.Equal(got, ids[649:]) || last != 700 {
		t.Fatalf("read 650..5000: %d events, last %d; want the 51 stored from 650 to 700", len(got), last)
	}
	if got, _, last := read(701, 800); len(got) != 0 || last != 0 {
		t.Fatalf("read past the end: %d events, last %d", len(got), last)
	}
	info, err := record.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Consumers; n != 0 {
		t.Fatalf("the stream has %d consumers after the reads, want 0", n)
	}
}
