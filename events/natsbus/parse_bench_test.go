package natsbus

import (
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// BenchmarkConsumeCheck is what Consume does to each delivered message
// before its handler: the whole contract, the subject against the
// envelope, and the cache of parsed events; on the bus benchmark's event.
func BenchmarkConsumeCheck(b *testing.B) {
	e, err := events.New(events.Police, events.NewEpisodeID(), &events.S136Detained{
		DetainedAt: time.Now().UTC(), LocationType: "public_place", AgeYears: 30, Consulted: true})
	if err != nil {
		b.Fatal(err)
	}
	raw, err := events.Encode(e)
	if err != nil {
		b.Fatal(err)
	}
	subj, _ := events.Subject(e)
	var c parsedCache
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq++
		if _, err := c.parse(Stored{Seq: seq, Subject: subj, Raw: raw}); err != nil {
			b.Fatal(err)
		}
	}
}
