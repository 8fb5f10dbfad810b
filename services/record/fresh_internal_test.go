package record

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// What the record kept of an episode is used only while the stream still
// holds, at the sequence it was read up to, the message it read there. A
// stream restored from a copy or replaced under the record (here: the
// record's memory of it altered, as a replaced stream would disagree with
// it) is read whole again, so no answer is built on messages the stream no
// longer holds.
func TestAnEpisodeIsReadWholeAgainWhenTheStreamNoLongerHoldsWhatWasRead(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	rec := bustest.Bus(t, b, events.Record)
	ep := events.NewEpisodeID()
	publish := func(data any) {
		t.Helper()
		e, err := events.New(events.Police, ep, data, events.At(time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	f := newFreshEpisodes()
	read := func() (string, uint64, int) {
		t.Helper()
		var view string
		var seq uint64
		var facts int
		if err := f.read(ctx, rec, ep, func(e *freshEpisode) error {
			raw, _ := json.Marshal(e.v)
			view, seq, facts = string(raw), e.seq, len(e.v.Timeline)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return view, seq, facts
	}
	publish(&events.EpisodeOpened{Channel: "999", Summary: "man on the bridge"})
	publish(&events.PersonVoiceRecorded{OwnWords: "ring my sister"})
	if _, _, facts := read(); facts != 2 {
		t.Fatalf("read %d facts, want 2", facts)
	}

	// Each time, what was kept is given a fact the stream never held, as
	// a memory of another stream would have.
	keptOfAnother := func(e *freshEpisode) {
		e.v.OwnWords = "words nobody recorded"
		e.v.Timeline = append(e.v.Timeline, e.v.Timeline[0])
	}
	for _, alter := range []struct {
		what      string
		do        func(e *freshEpisode)
		readWhole bool
	}{
		{"another message at the sequence read up to", func(e *freshEpisode) { e.lastID = events.NewEpisodeID() }, true},
		{"nothing at the sequence read up to", func(e *freshEpisode) { e.seq += 1000 }, true},
		// The message read up to is still there: what was kept is trusted
		// (only the record writes it), and only what follows is read.
		{"the message read up to", func(e *freshEpisode) {}, false},
	} {
		publish(&events.TriageRequested{CallerAccount: "he says he has had enough", Concern: alter.what})
		whole, wholeSeq, err := Load(ctx, rec, ep)
		if err != nil {
			t.Fatal(err)
		}
		wantRaw, _ := json.Marshal(whole)
		kept, _ := f.byID.Get(ep)
		keptOfAnother(kept)
		alter.do(kept)
		got, seq, _ := read()
		if readWhole := got == string(wantRaw) && seq == wholeSeq; readWhole != alter.readWhole {
			t.Fatalf("the stream holding %s: read whole %v, want %v:\n got %s (sequence %d)\nwhole %s (sequence %d)", alter.what, readWhole, alter.readWhole, got, seq, wantRaw, wholeSeq)
		}
	}
}

// The checkpoint saved is never a floor younger than the lag: a crash of the
// machine can take the views written in the last sync windows, and the
// check from the checkpoint at the next start must cover their facts.
func TestTheCheckpointIsAFloorAtLeastTheLagOld(t *testing.T) {
	r := &Record{cfg: Config{CheckpointLag: 30 * time.Second}}
	t0 := time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		after       time.Duration
		floor, want uint64
	}{
		{0, 10, 0},
		{5 * time.Second, 20, 0},
		{29 * time.Second, 30, 0},
		{30 * time.Second, 40, 10},
		{36 * time.Second, 50, 20},
		{90 * time.Second, 60, 50},
		{200 * time.Second, 60, 60},
	} {
		got := r.checkpointDue(t0.Add(step.after), step.floor)
		if got != step.want {
			t.Fatalf("at +%s with the floor at %d: checkpoint %d, want %d", step.after, step.floor, got, step.want)
		}
		r.saved = got
	}
	if len(r.floors) > 1 {
		t.Errorf("%d floors kept once the checkpoint caught up, want at most 1", len(r.floors))
	}
}
