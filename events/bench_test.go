package events_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/crisisbus/crisisbus/events"
)

// BenchmarkParse is the consume-side cost per event: envelope and data schema
// validation and the checks in Go. Compare with BenchmarkJSONOnly, the cost of
// merely decoding the same bytes.
func BenchmarkParse(b *testing.B) {
	raw := example(b, "handoff.offered")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONOnly(b *testing.B) {
	raw := example(b, "handoff.offered")
	b.ReportAllocs()
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
	for b.Loop() {
		if _, err := events.Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
