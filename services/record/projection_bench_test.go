package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
)

// BenchmarkProjectionCatchUp measures how fast the record's projection
// applies a stream it has not seen (a rebuild, or a record started after an
// import): events are stored while the record is stopped, then the record
// starts and the time until its consumer has acknowledged the last one is
// taken. It reports events/s. "import" stores each episode's 50 facts one
// after another, as an import does; "interleaved" takes turns between 200
// episodes, as live traffic does. CRISISBUS_BENCH_PROJECTION sets the
// number of events (default 20,000).
//
//	go test ./services/episode -run '^$' -bench ProjectionCatchUp -benchtime 1x
func BenchmarkProjectionCatchUp(b *testing.B) {
	n := 20_000
	if s := os.Getenv("CRISISBUS_BENCH_PROJECTION"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("CRISISBUS_BENCH_PROJECTION: %q is not a number of events", s)
		}
	}
	for _, layout := range []struct {
		name  string
		turns int  // episodes taking turns
		live  bool // the rec runs while the events are stored
	}{{"import", 1, false}, {"interleaved", 200, false}, {"import-live", 1, true}} {
		b.Run(layout.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				br := bustest.Start(b, "")
				police := bustest.Bus(b, br, events.Police)
				rec := bustest.Bus(b, br, events.Record)
				if !layout.live {
					storeEpisodes(b, police, n, layout.turns)
				}
				b.StartTimer()
				t0 := time.Now()
				r, err := record.Start(context.Background(), record.Config{Bus: rec})
				if err != nil {
					b.Fatal(err)
				}
				if layout.live {
					storeEpisodes(b, police, n, layout.turns)
				}
				waitApplied(b, rec, uint64(n))
				took := time.Since(t0)
				b.StopTimer()
				r.Stop()
				b.ReportMetric(float64(n)/took.Seconds(), "events/s")
				b.Logf("%s: %d events applied in %s (%.0f events/s)", layout.name, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
			}
		})
	}
}

// storeEpisodes stores n events of 50-fact episodes, turns episodes at a
// time taking turns, and returns the episodes.
func storeEpisodes(tb testing.TB, bus *natsbus.Bus, n, turns int) []string {
	tb.Helper()
	var docs [][]byte
	var all []string
	for len(docs) < n {
		eps := make([]string, turns)
		for i := range eps {
			eps[i] = events.NewEpisodeID()
		}
		all = append(all, eps...)
		for j := 0; j < 50 && len(docs) < n; j++ {
			for _, ep := range eps {
				var data any = &events.TriageRequested{CallerAccount: "volume", Concern: "volume"}
				if j == 0 {
					data = &events.EpisodeOpened{Channel: "999", Summary: "volume"}
				}
				e, err := events.New(events.Police, ep, data, events.By("volume"))
				if err != nil {
					tb.Fatal(err)
				}
				doc, err := json.Marshal(e)
				if err != nil {
					tb.Fatal(err)
				}
				docs = append(docs, doc)
			}
		}
	}
	for lo := 0; lo < len(docs); lo += 10_000 {
		for i, r := range bus.PublishBatchRaw(context.Background(), docs[lo:min(lo+10_000, len(docs))]) {
			if r.Err != nil {
				tb.Fatalf("storing event %d: %v", lo+i, r.Err)
			}
		}
	}
	return all
}

// waitApplied waits until the record's consumer has acknowledged every one
// of the stream's first n events.
func waitApplied(tb testing.TB, bus *natsbus.Bus, n uint64) {
	tb.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(2 * time.Hour); ; {
		c, err := bus.JetStream().Consumer(ctx, natsbus.Stream, record.Durable)
		if err != nil {
			tb.Fatal(err)
		}
		if c.CachedInfo().AckFloor.Stream >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(fmt.Errorf("the record applied up to %d of %d events", c.CachedInfo().AckFloor.Stream, n))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
