package record_test

import (
	"context"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bench"
)

// BenchmarkApplyAFactToAFiftyFactEpisode measures what the record's
// projection does for each event stored: one fact folded into the view of
// an episode of about 50 facts (40 episodes taking turns) and written on
// its revision. "kept": one instance, which folds into the view it wrote
// last; "read": two instances taking turns, so each finds the view moved
// on and reads and decodes it first, as every event did before views
// were kept. Each write waits for its fsync: cpu-µs/op is the process's
// CPU (server and client) an event.
//
//	go test ./services/record -run '^$' -bench ApplyAFact -benchmem -benchtime 400x
func BenchmarkApplyAFactToAFiftyFactEpisode(b *testing.B) {
	ctx := context.Background()
	stores := twoStores(b)
	fact := func(ep string, first bool) events.Event {
		var data any = &events.TriageRequested{CallerAccount: "Man on the outside of the railings of Rochester bridge", Concern: "Is he known to services?"}
		if first {
			data = &events.EpisodeOpened{Channel: "999", Summary: "volume"}
		}
		e, err := events.New(events.Police, ep, data, events.By("bench"))
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	eps := make([]string, 40)
	for i := range eps {
		eps[i] = events.NewEpisodeID()
		for j := range 50 {
			if err := stores[0].Apply(ctx, fact(eps[i], j == 0)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name  string
		turns int
	}{{"kept", 1}, {"read", 2}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			cpu := bench.ProcessCPU()
			for b.Loop() {
				// Each round of the episodes, the next instance.
				if err := stores[(i/len(eps))%c.turns].Apply(ctx, fact(eps[i%len(eps)], false)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64((bench.ProcessCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
