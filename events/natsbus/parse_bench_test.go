package natsbus

import (
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// BenchmarkConsumeCheck is what Consume does to each delivered message
// before its handler: the whole contract and the subject against the
// envelope, on the bus benchmark's event, checked in full.
func BenchmarkConsumeCheck(b *testing.B) {
	// More events than the process keeps (events/checked.go), taken in
	// turn: each is checked in full, as by a consumer in another process
	// than its publisher.
	const n = 20000
	raws, subjects := make([][]byte, n), make([]string, n)
	for i := range raws {
		e, err := events.New(events.Police, events.NewEpisodeID(), &events.S136Detained{
			DetainedAt: time.Now().UTC(), LocationType: "public_place", AgeYears: 30, Consulted: true})
		if err != nil {
			b.Fatal(err)
		}
		if raws[i], err = events.Encode(e); err != nil {
			b.Fatal(err)
		}
		subjects[i], _ = events.Subject(e)
	}
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		i := seq % n
		seq++
		if _, err := parseStored(subjects[i], raws[i]); err != nil {
			b.Fatal(err)
		}
	}
}
