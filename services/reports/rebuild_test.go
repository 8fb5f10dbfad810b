package reports

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// A stream read as ranges side by side gives the same tables as one read in
// order, event by event, and has read to the stream's last event, the ones
// it does not count (each episode's closing) included. Each episode is a
// police contact whose row a later event moves: street triage avoids an
// s136, the person is brought to a safe haven, and for some a detention
// follows.
func TestRebuildInRangesEqualsApplyingInOrder(t *testing.T) {
	b := bustest.Start(t, "")
	bus, err := natsbus.NewBus(bustest.Conn(t, b, ""), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	counted := 0
	start := time.Date(2016, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 300 {
		ep := events.NewEpisodeID()
		at := start.Add(time.Duration(i) * 97 * time.Minute)
		evs := []any{
			events.EpisodeOpened{Channel: "999", Summary: "person on the bridge"},
			events.StreetTriageOutcome{S136Avoided: true, Outcome: "safe_haven"},
			events.HavenArrived{How: "brought_by_police", Haven: "haven-margate", ArrivedAt: at, Taken: true},
		}
		if i%3 != 0 {
			evs = append(evs,
				events.S136Detained{DetainedAt: at, LocationType: "public_place", AgeYears: 15 + i%50, Consulted: true},
				events.PlaceOfSafetyArrived{ArrivedAt: at.Add(30 * time.Minute), PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite"},
				events.AssessmentCompleted{Outcome: []string{"detained_s2", "informal_admission", "not_admitted"}[i%3], CompletedAt: at.Add(time.Duration(3+i%30) * time.Hour)})
		}
		for _, data := range evs {
			src := events.Police
			switch data.(type) {
			case events.AssessmentCompleted:
				src = events.AMHP
			case events.HavenArrived:
				src = events.SafeHaven
			}
			e, err := events.New(src, ep, data, events.At(at))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := json.Marshal(e)
			docs = append(docs, raw)
			counted++
		}
	}
	// The stream ends with an event the reports do not count.
	last, err := events.New(events.Police, events.NewEpisodeID(), events.EpisodeClosed{Reason: "no further action"}, events.At(start))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(last)
	docs = append(docs, raw)
	for _, r := range bus.PublishBatchRaw(context.Background(), docs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	inOrder := NewProjection()
	if err := bus.ReplayRaw(context.Background(), natsbus.ReplayConfig{}, func(s natsbus.Stored) error { inOrder.Apply(s); return nil }); err != nil {
		t.Fatal(err)
	}
	defer func(n uint64) { splitFrom = n }(splitFrom)
	splitFrom = 10
	ranged, err := Rebuild(context.Background(), bus)
	if err != nil {
		t.Fatal(err)
	}
	if ranged.Applied() != counted || inOrder.Applied() != counted || ranged.Last() != uint64(len(docs)) || inOrder.Last() != uint64(len(docs)) {
		t.Fatalf("applied %d in ranges (last %d), %d in order (last %d), of %d counted in %d stored",
			ranged.Applied(), ranged.Last(), inOrder.Applied(), inOrder.Last(), counted, len(docs))
	}
	rng := Range{From: MonthFor(2016, time.March), To: MonthFor(2016, time.May)}
	if c, _ := inOrder.Report("contacts", rng); c.Rows[contactDetained].Cells[3] != "200" || c.Rows[contactHaven].Cells[3] != "100" {
		t.Errorf("police contacts in order: %+v; want 200 detained and 100 ended at a haven", c.Rows)
	}
	for _, name := range Names {
		a, _ := ranged.Report(name, rng)
		o, _ := inOrder.Report(name, rng)
		var x, y strings.Builder
		Write(&x, a, "csv")
		Write(&y, o, "csv")
		if x.String() != y.String() {
			t.Errorf("%s in ranges:\n%s\nin order:\n%s", name, x.String(), y.String())
		}
	}
}
