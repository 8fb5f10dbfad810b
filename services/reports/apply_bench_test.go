package reports_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/services/reports"
	"github.com/crisisbus/crisisbus/services/reports/reportgen"
)

// storedOf is 100,000 stored events of ten years, each run of them made by
// next in a random month.
func storedOf(seed uint64, next func(g *reportgen.Gen, m reports.Month) []events.Event) []natsbus.Stored {
	g := reportgen.New(seed)
	rng := reports.Range{From: reports.MonthFor(2015, time.January), To: reports.MonthFor(2024, time.December)}
	var stored []natsbus.Stored
	for len(stored) < 100000 {
		m := rng.From + reports.Month(g.Rand().IntN(rng.Len()))
		for _, e := range next(g, m) {
			raw, _ := json.Marshal(e)
			subj, _ := events.Subject(e)
			stored = append(stored, natsbus.Stored{Seq: uint64(len(stored) + 1), Subject: subj, Raw: raw})
		}
	}
	return stored
}

// fixture is 100,000 stored events of detentions.
var fixture = sync.OnceValue(func() []natsbus.Stored {
	return storedOf(1, func(g *reportgen.Gen, m reports.Month) []events.Event {
		return g.Detention(g.RandomDetention(g.InMonth(m), reportgen.Outcomes[g.Rand().IntN(4)]))
	})
})

// contactFixture is 100,000 stored events of police contacts ending every
// way the contacts report counts (openings, referrals, acceptances, haven
// arrivals, street triage, detentions).
var contactFixture = sync.OnceValue(func() []natsbus.Stored {
	return storedOf(2, func(g *reportgen.Gen, m reports.Month) []events.Event {
		evs, _ := g.Contact(g.InMonth(m), reportgen.ContactEnds[g.Rand().IntN(len(reportgen.ContactEnds))])
		return evs
	})
})

// applyAll applies stored over and over, one event an iteration.
func applyAll(b *testing.B, stored []natsbus.Stored) {
	b.ResetTimer()
	p := reports.NewProjection()
	for i := 0; i < b.N; i++ {
		s := stored[i%len(stored)]
		s.Seq = uint64(i + 1)
		p.Apply(s)
	}
}

// BenchmarkApply is the projection's cost per stored event, without the stream.
func BenchmarkApply(b *testing.B) { applyAll(b, fixture()) }

// BenchmarkApplyContacts is the projection's cost per stored event of
// police contacts, without the stream.
func BenchmarkApplyContacts(b *testing.B) {
	stored := contactFixture()
	b.ReportAllocs()
	applyAll(b, stored)
}
