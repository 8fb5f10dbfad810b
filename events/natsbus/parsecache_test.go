package natsbus

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// A parsed event is reused only for the same message, and the cache never
// holds more than its bound however many events are read.
func TestParsedEventsAreReusedOnlyForTheSameMessageAndBounded(t *testing.T) {
	stored := func(seq uint64, age int) Stored {
		e, err := events.New(events.Police, "0b9f1c1e-4f5a-4c59-9a51-0d4c2f7d8e11", &events.S136Detained{DetainedAt: time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC),
			LocationType: "public_place", AgeYears: age, Consulted: true})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(e)
		subj, err := events.Subject(e)
		if err != nil {
			t.Fatal(err)
		}
		return Stored{Seq: seq, Subject: subj, Raw: raw}
	}
	var c parsedCache
	a := stored(7, 34)
	first, err := c.parse(a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.parse(a)
	if err != nil || again.ID != first.ID {
		t.Fatalf("the same message read again: %v, %v", again.ID, err)
	}
	// Other bytes under the same sequence (a store repaired from another
	// copy, say) are parsed, never taken from the cache.
	b := stored(7, 35)
	other, err := c.parse(b)
	if err != nil || other.ID == first.ID {
		t.Fatalf("other bytes at the same sequence gave the cached event %s (%v)", other.ID, err)
	}
	// A message that is not an event is refused every time, never cached.
	bad := Stored{Seq: 8, Subject: a.Subject, Raw: []byte("not json")}
	for range 2 {
		if _, err := c.parse(bad); err == nil {
			t.Fatal("a message that is not JSON was accepted")
		}
	}
	for seq := uint64(100); seq < 100+parsedCacheSize+500; seq++ {
		s := a
		s.Seq = seq
		if _, err := c.parse(s); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.bySeq.Len(); n > parsedCacheSize {
		t.Fatalf("the cache holds %d events, more than its bound %d", n, parsedCacheSize)
	}
}
