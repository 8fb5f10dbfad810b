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

// BenchmarkApply is the projection's cost per stored event, without the stream.
var fixture = sync.OnceValue(func() []natsbus.Stored {
	g := reportgen.New(1)
	rng := reports.Range{From: reports.MonthFor(2015, time.January), To: reports.MonthFor(2024, time.December)}
	var stored []natsbus.Stored
	for len(stored) < 100000 {
		m := rng.From + reports.Month(g.Rand().IntN(rng.Len()))
		for _, e := range g.Detention(g.RandomDetention(g.InMonth(m), reportgen.Outcomes[g.Rand().IntN(4)])) {
			raw, _ := json.Marshal(e)
			subj, _ := events.Subject(e)
			stored = append(stored, natsbus.Stored{Seq: uint64(len(stored) + 1), Subject: subj, Raw: raw})
		}
	}
	return stored
})

func BenchmarkApply(b *testing.B) {
	stored := fixture()
	b.ResetTimer()
	p := reports.NewProjection()
	for i := 0; i < b.N; i++ {
		s := stored[i%len(stored)]
		s.Seq = uint64(i + 1)
		p.Apply(s)
	}
}

// contactFixture is 100,000 stored events of police contacts ending every
// way the contacts report counts (openings, referrals, acceptances, haven
// arrivals, street triage, detentions).
var contactFixture = sync.OnceValue(func() []natsbus.Stored {
	g := reportgen.New(2)
	rng := reports.Range{From: reports.MonthFor(2015, time.January), To: reports.MonthFor(2024, time.December)}
	var stored []natsbus.Stored
	for len(stored) < 100000 {
		m := rng.From + reports.Month(g.Rand().IntN(rng.Len()))
		evs, _ := g.Contact(g.InMonth(m), reportgen.ContactEnds[g.Rand().IntN(len(reportgen.ContactEnds))])
		for _, e := range evs {
			raw, _ := json.Marshal(e)
			subj, _ := events.Subject(e)
			stored = append(stored, natsbus.Stored{Seq: uint64(len(stored) + 1), Subject: subj, Raw: raw})
		}
	}
	return stored
})

// BenchmarkApplyContacts is the projection's cost per stored event of
// police contacts, without the stream.
func BenchmarkApplyContacts(b *testing.B) {
	stored := contactFixture()
	b.ReportAllocs()
	b.ResetTimer()
	p := reports.NewProjection()
	for i := 0; i < b.N; i++ {
		s := stored[i%len(stored)]
		s.Seq = uint64(i + 1)
		p.Apply(s)
	}
}
