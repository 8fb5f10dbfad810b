package events_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bench"
)

// BenchmarkParse is the consume-side cost per event checked in full (a
// consumer in another process than the publisher): envelope and data
// schema validation and the checks in Go. Compare with BenchmarkJSONOnly, the cost of
// merely decoding the same bytes.
func BenchmarkParse(b *testing.B) {
	raw := example(b, "handoff.offered")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := events.ParseInFull(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONOnly(b *testing.B) {
	raw := example(b, "handoff.offered")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		var e events.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			b.Fatal(err)
		}
	}
}

func example(b *testing.B, name string) []byte {
	raw, err := os.ReadFile("../schemas/testdata/valid/" + name + ".json")
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkParseDetention is Parse of a small event, the kind most of the
// stream holds (the bus benchmark publishes these).
func BenchmarkParseDetention(b *testing.B) {
	raw := example(b, "s136.detained")
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := events.ParseInFull(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDetentionFoundValidBefore is Parse of bytes this process
// found valid lately (checked.go): the event's publish, or another
// consumer, in the same process.
func BenchmarkParseDetentionFoundValidBefore(b *testing.B) {
	raw := example(b, "s136.detained")
	if _, err := events.Parse(raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := events.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseDetentionTraced is BenchmarkParseDetention with W3C trace
// context in the envelope (traceparent and tracestate), as every event a
// command stores now carries: the price of the extension on the quick path.
func BenchmarkParseDetentionTraced(b *testing.B) {
	var e events.Event
	if err := json.Unmarshal(example(b, "s136.detained"), &e); err != nil {
		b.Fatal(err)
	}
	e.TraceParent, e.TraceState = events.NewTrace().String(), "acme=7f3a"
	raw, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := events.ParseInFull(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeDetention is the publish-side check of the bus
// benchmark's event: the envelope written out and checked against the
// whole contract (Encode), as every publish does.
func BenchmarkEncodeDetention(b *testing.B) {
	e, err := events.New(events.Police, events.NewEpisodeID(), &events.S136Detained{
		DetainedAt: time.Now().UTC(), LocationType: "public_place", AgeYears: 30, Consulted: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := events.EncodeInFull(e); err != nil {
			b.Fatal(err)
		}
	}
}

// reportCPU reports the process's CPU time an operation (cpu-ns/op, garbage
// collection included) when the returned function is called after the
// loop: on a machine shared with other work it moves far less than ns/op,
// which counts the time the benchmark waited for a core.
func reportCPU(b *testing.B) func() {
	start := bench.ProcessCPU()
	return func() {
		if b.N > 0 && start > 0 {
			b.ReportMetric(float64(bench.ProcessCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
