package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
)

// Two instances of the record share the views (each consumes part of the
// stream) and each keeps the views it wrote last, to fold the next event
// into without reading it. Taking turns on one episode through a night,
// each fact lands, whoever wrote before: after every fact the stored view
// is the night so far folded from nothing, byte for byte.
func TestTwoRecordsTakingTurnsOnAnEpisodeLoseNoFact(t *testing.T) {
	ctx := context.Background()
	stores := twoStores(t)
	ep := events.NewEpisodeID()
	evs := night(t, ep)
	// Who applies each fact: the first store twice running (its kept view
	// is current), then the other (the first's kept view is now behind).
	turns := []int{0, 0, 0, 1, 0, 0, 1}
	want := episode.New(ep)
	check := func(when string) {
		t.Helper()
		wantRaw, _ := json.Marshal(want)
		for s, store := range stores {
			got, _, ok, err := store.Get(ctx, ep)
			if err != nil || !ok {
				t.Fatalf("%s: store %d reads the view: ok %v, %v", when, s, ok, err)
			}
			if gotRaw, _ := json.Marshal(got); string(gotRaw) != string(wantRaw) {
				t.Fatalf("%s the stored view has %d facts:\n%s\nwant %d:\n%s", when, len(got.Timeline), gotRaw, len(want.Timeline), wantRaw)
			}
		}
	}
	for i, e := range evs {
		if i == 2 {
			// A write that fails (here, given up before the server answered)
			// leaves the fact to its redelivery, which lands it.
			gone, cancel := context.WithCancel(ctx)
			cancel()
			if err := stores[0].Apply(gone, e); err == nil {
				t.Fatal("a fact applied with no server to answer reports no error")
			}
		}
		if err := stores[turns[i]].Apply(ctx, e); err != nil {
			t.Fatalf("fact %d (%s): %v", i+1, e.Type, err)
		}
		if _, err := want.Apply(e); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("after fact %d (%s, applied by store %d)", i+1, e.Type, turns[i]))
	}
	// Every fact delivered again, to each store: nothing changes.
	for _, store := range stores {
		for _, e := range evs {
			if err := store.Apply(ctx, e); err != nil {
				t.Fatalf("%s again: %v", e.Type, err)
			}
		}
	}
	check("after every fact again")
}

// twoStores opens the record's store twice on one server, as two instances
// of the record would, each with its own connection.
func twoStores(tb testing.TB) [2]*record.Store {
	tb.Helper()
	b := bustest.Start(tb, "")
	var stores [2]*record.Store
	for i := range stores {
		s, err := record.OpenStore(context.Background(), bustest.Bus(tb, b, events.Record).JetStream())
		if err != nil {
			tb.Fatal(err)
		}
		stores[i] = s
	}
	return stores
}
