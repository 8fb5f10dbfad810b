package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/internal/system"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
)

// BenchmarkAtVolume measures, with every service running, a police command's
// round trip (request, the episode's state from the record, the decision,
// the fsynced publish, the reply), the police view of an episode of about
// 50 facts (request, the episode read, the disclosure, the document as
// sent; the caller does not decode it) and the AMHP worklist (what waits
// for the AMHP service: nothing of the other episodes), as the stream grows
// from a thousand events to a million (other people's episodes of 50 facts
// each). It prints p50 and p99 for each size, and the same round trip over
// raw NATS (a request answered by an fsynced JetStream publish) with the
// ratio; what each operation allocated (the whole process's, every
// service's work on it included) and the garbage collections meanwhile;
// and at each size the heap held and its next collection's goal. The
// process's garbage collector is tuned as `crisisbus up` tunes it
// (system.TuneGC).
//
// Sizes come from CRISISBUS_BENCH_VOLUMES (default 1000,100000,1000000);
// CRISISBUS_BENCH_HEAPPROFILE, a directory, has it write the heap's
// profile at each size there. Before measuring at each size it waits until
// every service's consumer has caught up, so the figures are of a system
// at rest at that volume; after, it fails if the stream has more consumers
// than when it started.
//
//	go test ./integration -run '^$' -bench AtVolume -benchtime 400x -timeout 2h
func BenchmarkAtVolume(b *testing.B) {
	gogc, restoreGC := system.TuneGC()
	b.Cleanup(restoreGC)
	b.Logf("garbage collector target GOGC=%d, as crisisbus up runs", gogc)
	p := start(b)
	sizes := volumes(b)
	raw := rawRoundTrip(b, p)
	consumersAtStart := consumers(b, p)
	for _, size := range sizes {
		fill(b, p, size)
		// 40 episodes of 45 facts: 400 commands taken in turn leave each
		// with 55, so every command and view is on an episode of about 50.
		eps := fiftyFactEpisodes(p, 40, 45)
		settle(b, p)
		b.Run(fmt.Sprintf("events=%d/command", size), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			i := 0
			before := processTally()
			for b.Loop() {
				t0 := time.Now()
				do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(eps[i%len(eps)], "bench"),
					TriageRequested: events.TriageRequested{CallerAccount: "bench", Concern: "bench"}})
				lat = append(lat, time.Since(t0))
				i++
			}
			report(b, size, "command", lat, raw, processTally().since(before))
		})
		b.Run(fmt.Sprintf("events=%d/view", size), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			i := 0
			before := processTally()
			for b.Loop() {
				t0 := time.Now()
				// What the police service's caller gets: the view as sent.
				v := do[record.ViewRequest, record.ViewResponse](p, events.Record, "police.view",
					record.ViewRequest{Episode: eps[i%len(eps)], Viewer: "bench", Purpose: "direct care of the person in this episode"})
				if v.Agency != events.Police || len(v.View) == 0 {
					b.Fatalf("asked for the police view, got the %s view of %d bytes", v.Agency, len(v.View))
				}
				lat = append(lat, time.Since(t0))
				i++
			}
			report(b, size, "view", lat, raw, processTally().since(before))
		})
		b.Run(fmt.Sprintf("events=%d/worklist", size), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			before := processTally()
			for b.Loop() {
				t0 := time.Now()
				do[record.WorklistRequest, record.WorklistResponse](p, events.Record, "amhp.worklist",
					record.WorklistRequest{Viewer: "bench", Purpose: "start of shift"})
				lat = append(lat, time.Since(t0))
			}
			report(b, size, "worklist", lat, raw, processTally().since(before))
		})
		// Reads made no consumer: the count is where it started.
		if n := consumers(b, p); n != consumersAtStart {
			b.Fatalf("at %d events the stream has %d consumers, %d at the start", size, n, consumersAtStart)
		}
		b.Logf("at %d events the stream has %d consumers, as at the start", size, consumersAtStart)
		heapProfile(b, size)
		h := heap()
		fmt.Printf("heap     at %8d events: %.0f MB live after the last collection, %.0f MB its next collection's goal, %.0f MB mapped by the Go runtime\n",
			size, h.live/(1<<20), h.goal/(1<<20), h.mapped/(1<<20))
	}
}

// consumers is how many consumers the event stream has.
func consumers(b *testing.B, p *pathway) int {
	b.Helper()
	st, err := p.admin.JetStream().Stream(context.Background(), natsbus.Stream)
	if err != nil {
		b.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return info.State.Consumers
}

func volumes(b *testing.B) []int {
	spec := os.Getenv("CRISISBUS_BENCH_VOLUMES")
	if spec == "" {
		spec = "1000,100000,1000000"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("CRISISBUS_BENCH_VOLUMES: %q is not a number of events", f)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// fill publishes other people's 50-fact episodes until the stream holds
// size events.
func fill(b *testing.B, p *pathway, size int) {
	b.Helper()
	ctx := context.Background()
	stream, err := p.admin.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		b.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	have := int(info.State.Msgs)
	started, last := time.Now(), time.Now()
	for have < size {
		var docs [][]byte
		for len(docs) < min(10_000, size-have) {
			ep := events.NewEpisodeID()
			for j := range 50 {
				var data any = events.TriageRequested{CallerAccount: "volume", Concern: "volume"}
				if j == 0 {
					data = events.EpisodeOpened{Channel: "999", Summary: "volume"}
				}
				e, err := events.New(events.Police, ep, data, events.At(p.clock.Now()), events.By("volume"))
				if err != nil {
					b.Fatal(err)
				}
				doc, err := json.Marshal(e)
				if err != nil {
					b.Fatal(err)
				}
				docs = append(docs, doc)
			}
		}
		docs = docs[:min(len(docs), size-have)]
		for i, r := range p.admin.PublishBatchRaw(ctx, docs) {
			if r.Err != nil {
				b.Fatalf("filling the stream, document %d: %v", i, r.Err)
			}
		}
		have += len(docs)
		if time.Since(last) > 10*time.Second {
			b.Logf("stream holds %d of %d events (%.0f events/s)", have, size, float64(have)/time.Since(started).Seconds())
			last = time.Now()
		}
	}
}

// settle waits until every consumer on the stream (the record's, the
// clock's and the audit log's durables, each agency's inbox, the reports
// projection's) has delivered and had acknowledged every event, saying how
// far behind they are meanwhile.
func settle(b *testing.B, p *pathway) {
	b.Helper()
	ctx := context.Background()
	stream, err := p.admin.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		b.Fatal(err)
	}
	started, last := time.Now(), time.Now()
	for {
		behind := map[string]uint64{}
		list := stream.ListConsumers(ctx)
		for info := range list.Info() {
			if n := info.NumPending + uint64(info.NumAckPending); n > 0 {
				behind[info.Name] = n
			}
		}
		if err := list.Err(); err != nil {
			b.Fatalf("list the stream's consumers: %v", err)
		}
		if len(behind) == 0 {
			b.Logf("every service caught up in %s", time.Since(started).Round(time.Second))
			return
		}
		if time.Since(last) > 10*time.Second {
			b.Logf("waiting for the services to catch up: %v events behind", behind)
			last = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fiftyFactEpisodes opens n episodes of the given number of facts each
// through the police service, the episodes the benchmark's commands and
// views act on.
func fiftyFactEpisodes(p *pathway, n, facts int) []string {
	var eps []string
	for range n {
		ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{Actor: "bench", Channel: "999", Summary: "bench"}).Episode
		for range facts - 1 {
			do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, "bench"),
				TriageRequested: events.TriageRequested{CallerAccount: "bench", Concern: "bench"}})
		}
		eps = append(eps, ep)
	}
	return eps
}

// rawRoundTrip is the floor crisisbus is compared with: over the same
// server, a request answered by a responder that writes one fsynced
// message to a stream of its own (a bucket's) and replies. It returns the p50.
func rawRoundTrip(b *testing.B, p *pathway) time.Duration {
	b.Helper()
	ctx := context.Background()
	// A bucket of its own: the identities reach the store's streams only
	// through the subjects the store exports (broker/rights, Imports), and
	// a bucket's writes are among them.
	kv, err := p.admin.JetStream().CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "raw_bench", Storage: jetstream.FileStorage})
	if err != nil {
		b.Fatal(err)
	}
	nc := p.admin.Conn()
	sub, err := nc.Subscribe("rawbench.request", func(m *nats.Msg) {
		if _, err := kv.Put(ctx, "store", m.Data); err != nil {
			b.Error(err)
		}
		_ = m.Respond([]byte(`{}`))
	})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	lat := make([]time.Duration, 0, 400)
	for range 400 {
		t0 := time.Now()
		if _, err := nc.Request("rawbench.request", []byte(`{"concern":"bench"}`), 5*time.Second); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	p50, p99 := percentiles(lat)
	b.Logf("raw NATS request + fsynced publish + reply: p50 %s, p99 %s", p50, p99)
	return p50
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)*50/100], s[min(len(s)-1, len(s)*99/100)]
}

func report(b *testing.B, size int, what string, lat []time.Duration, raw time.Duration, m tally) {
	if len(lat) == 0 {
		return
	}
	p50, p99 := percentiles(lat)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(p50)/float64(raw), "x-raw-p50")
	perOp := m.allocated / float64(len(lat))
	b.ReportMetric(perOp/1024, "KB-allocated/op")
	if len(lat) >= 100 {
		fmt.Printf("%-8s at %8d events: p50 %6.2f ms, p99 %6.2f ms, %.1fx raw NATS (p50 %.2f ms), %d operations; %.0f KB allocated an operation (the whole process's), %.0f garbage collections\n",
			what, size, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000, float64(p50)/float64(raw),
			float64(raw.Microseconds())/1000, len(lat), perOp/1024, m.collections)
	}
}

// tally is what the whole process has allocated and collected so far, or
// between two tallies.
type tally struct{ allocated, collections float64 }

func processTally() tally {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return tally{allocated: float64(s[0].Value.Uint64()), collections: float64(s[1].Value.Uint64())}
}

// since is what was allocated and collected from before to t.
func (t tally) since(before tally) tally {
	return tally{allocated: t.allocated - before.allocated, collections: t.collections - before.collections}
}

// heapProfile writes the heap's profile at this size into the directory
// CRISISBUS_BENCH_HEAPPROFILE names, if it names one (go tool pprof
// -sample_index=inuse_space), to see what the process holds as the
// stream grows.
func heapProfile(b *testing.B, size int) {
	dir := os.Getenv("CRISISBUS_BENCH_HEAPPROFILE")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", size)))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	runtime.GC() // what is live now, not at the last collection
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
	b.Logf("heap profile at %d events: %s", size, f.Name())
}

// heapFigures are the process's heap as the runtime last measured it.
type heapFigures struct{ live, goal, mapped float64 }

func heap() heapFigures {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	return heapFigures{live: float64(s[0].Value.Uint64()), goal: float64(s[1].Value.Uint64()), mapped: float64(s[2].Value.Uint64())}
}
