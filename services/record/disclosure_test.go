package record_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// fakeNow is the record's clock in these tests.
type fakeNow struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeNow) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeNow) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// recordOn is the episode record running on a real embedded server, with
// the night's episodes published and projected.
type recordOn struct {
	t      *testing.T
	b      *broker.Broker
	clock  *fakeNow
	rec    *record.Record
	bus    *natsbus.Bus // the record's own connection, to replay the stream
	police *nats.Conn
	eps    []string
}

func startRecord(t *testing.T, episodes int) *recordOn {
	t.Helper()
	ctx := context.Background()
	r := &recordOn{t: t, b: bustest.Start(t, ""), clock: &fakeNow{now: time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)}}
	police := bustest.Bus(t, r.b, events.Police)
	amhp := bustest.Bus(t, r.b, events.AMHP)
	r.bus = bustest.Bus(t, r.b, events.Record)
	r.police = bustest.Conn(t, r.b, events.Police)
	for range episodes {
		ep := events.NewEpisodeID()
		r.eps = append(r.eps, ep)
		// the night until the AMHP service accepts: still open, owned by AMHP,
		// with the police's offer answered
		for _, e := range night(t, ep)[:6] {
			bus := police
			if e.Source == events.AMHP {
				bus = amhp
			}
			if _, err := bus.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	var err error
	r.rec, err = record.Start(ctx, record.Config{Bus: r.bus, Log: bustest.Logger(), Now: r.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.rec.Stop)
	for _, ep := range r.eps {
		bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			v, _, _, err := r.rec.Store().Get(ctx, ep)
			if err != nil {
				return err
			}
			if len(v.Timeline) != 6 {
				return fmt.Errorf("episode %s has %d facts, want 6", ep, len(v.Timeline))
			}
			return nil
		})
	}
	return r
}

// disclosed returns the record.disclosed events stored for an episode.
func (r *recordOn) disclosed(ep string) []events.RecordDisclosed {
	r.t.Helper()
	var out []events.RecordDisclosed
	if _, err := r.bus.Replay(context.Background(), events.EpisodeSubjects(ep), func(e events.Event, _ uint64) error {
		if e.Type != "crisisbus.record.disclosed.v1" {
			return nil
		}
		var d events.RecordDisclosed
		if err := e.DecodeInto(&d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	}, nil); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *recordOn) view(ep, viewer, purpose string) (record.ViewResponse, error) {
	return rpc.Call[record.ViewRequest, record.ViewResponse](context.Background(), r.police, record.ViewSubject(events.Police),
		record.ViewRequest{Episode: ep, Viewer: viewer, Purpose: purpose})
}

// The police view sends clocks, closed and links even when they are empty,
// false or null: the disclosure stored for it names every field sent, and
// nothing else.
func TestAPoliceViewsDisclosureNamesEveryFieldSentIncludingClocksClosedAndLinks(t *testing.T) {
	r := startRecord(t, 1)
	ep := r.eps[0]
	resp, err := r.view(ep, "PC 4471 Hughes", "handover at the s136 suite")
	if err != nil {
		t.Fatal(err)
	}
	var view map[string]json.RawMessage
	if err := json.Unmarshal(resp.View, &view); err != nil {
		t.Fatal(err)
	}
	sent := make([]string, 0, len(view))
	for k := range view {
		sent = append(sent, k)
	}
	slices.Sort(sent)
	for _, f := range []string{"clocks", "closed", "links"} {
		if _, ok := view[f]; !ok {
			t.Fatalf("the police view did not send %s (it sent %v)", f, sent)
		}
	}
	stored := r.disclosed(ep) // the reply came back: the disclosure was stored before it
	if len(stored) != 1 {
		t.Fatalf("%d disclosures stored for one view, want 1", len(stored))
	}
	d := stored[0]
	if !slices.Equal(d.Fields, sent) || !slices.Equal(resp.Fields, sent) {
		t.Fatalf("disclosure names %v (reply says %v), but the view sent %v", d.Fields, resp.Fields, sent)
	}
	if d.Viewer != "PC 4471 Hughes" || d.Agency != events.Police || d.Purpose != "handover at the s136 suite" {
		t.Fatalf("disclosure %+v", d)
	}
	if slices.Contains(d.Fields, "clinical") {
		t.Fatal("the police disclosure names the clinical record")
	}
}

// Each episode on a worklist is a disclosure to the person reading it,
// naming the fields the list sent of that episode, stored before the list.
func TestAWorklistReadIsADisclosureOfEachEpisodeItShows(t *testing.T) {
	r := startRecord(t, 3)
	amhpConn := bustest.Conn(t, r.b, events.AMHP)
	resp, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](context.Background(), amhpConn, record.WorklistSubject(events.AMHP),
		record.WorklistRequest{Viewer: "AMHP Sarah Okafor", Purpose: "choosing the next assessment"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != 3 {
		t.Fatalf("AMHP worklist has %d items, want the 3 episodes it owns", len(resp.Items))
	}
	for _, it := range resp.Items {
		raw, _ := json.Marshal(it)
		var sent map[string]any
		_ = json.Unmarshal(raw, &sent)
		var want []string
		for k := range sent {
			want = append(want, "worklist."+k)
		}
		slices.Sort(want)
		stored := r.disclosed(it.Episode)
		if len(stored) != 1 {
			t.Fatalf("episode %s: %d disclosures stored for one worklist read, want 1", it.Episode, len(stored))
		}
		d := stored[0]
		if d.Viewer != "AMHP Sarah Okafor" || d.Agency != events.AMHP || d.Purpose != "choosing the next assessment" {
			t.Fatalf("episode %s: disclosure %+v", it.Episode, d)
		}
		if !slices.Equal(d.Fields, want) || !slices.Contains(d.Fields, "worklist.person") {
			t.Fatalf("episode %s: disclosure names %v, the list sent %v", it.Episode, d.Fields, want)
		}
	}
	// and "who viewed" shows it for each episode
	for _, ep := range r.eps {
		bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			ds, err := rpc.Call[record.EpisodeRequest, record.DisclosuresResponse](context.Background(), bustest.Conn(t, r.b, ""), record.SubjectDisclosures, record.EpisodeRequest{Episode: ep})
			if err != nil {
				return err
			}
			if len(ds.Disclosures) != 1 || ds.Disclosures[0].Viewer != "AMHP Sarah Okafor" || ds.Disclosures[0].Count != 1 {
				return fmt.Errorf("who viewed %s: %+v", ep, ds.Disclosures)
			}
			return nil
		})
	}
	// the police have nothing on their worklist: nothing is disclosed to them
	if _, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](context.Background(), r.police, record.WorklistSubject(events.Police),
		record.WorklistRequest{Viewer: "PC 4471", Purpose: "the control room's list"}); err != nil {
		t.Fatal(err)
	}
	for _, ep := range r.eps {
		for _, d := range r.disclosed(ep) {
			if d.Agency == events.Police {
				t.Fatalf("episode %s disclosed to the police by a worklist that does not show it", ep)
			}
		}
	}
}

// A viewer or purpose over the limit is refused with 400 naming the field
// and the limit, and nothing is disclosed.
func TestAnOverLongViewerOrPurposeIsRefusedNamingTheField(t *testing.T) {
	r := startRecord(t, 1)
	ep := r.eps[0]
	long := strings.Repeat("é", record.MaxViewerLen+1) // characters, not bytes
	cases := []struct {
		viewer, purpose, says string
	}{
		{long, "direct care", fmt.Sprintf("viewer is too long: %d characters, at most %d", record.MaxViewerLen+1, record.MaxViewerLen)},
		{"PC 4471", strings.Repeat("p", record.MaxPurposeLen+1), fmt.Sprintf("purpose is too long: %d characters, at most %d", record.MaxPurposeLen+1, record.MaxPurposeLen)},
		{"PC 4471\nPC 9999", "direct care", "viewer must be one line of text"},
	}
	for _, c := range cases {
		_, err := r.view(ep, c.viewer, c.purpose)
		var re *rpc.Error
		if !errors.As(err, &re) || re.Code != rpc.BadRequest || !strings.Contains(re.Message, c.says) {
			t.Fatalf("view: %v, want 400 saying %q", err, c.says)
		}
		_, err = rpc.Call[record.WorklistRequest, record.WorklistResponse](context.Background(), r.police, record.WorklistSubject(events.Police),
			record.WorklistRequest{Viewer: c.viewer, Purpose: c.purpose})
		if !errors.As(err, &re) || re.Code != rpc.BadRequest || !strings.Contains(re.Message, c.says) {
			t.Fatalf("worklist: %v, want 400 saying %q", err, c.says)
		}
	}
	// exactly at the limit is fine
	if _, err := r.view(ep, strings.Repeat("é", record.MaxViewerLen), strings.Repeat("p", record.MaxPurposeLen)); err != nil {
		t.Fatalf("a viewer and purpose at the limit: %v", err)
	}
	if n := len(r.disclosed(ep)); n != 1 {
		t.Fatalf("%d disclosures stored, want only the one view that was answered", n)
	}
}

// 5,000 view requests on one episode: identical reads within 15 minutes are
// one disclosure, the summary kept for "who viewed" stays under
// MaxDisclosureBytes, and the record keeps up for everyone.
func TestFiveThousandViewsKeepTheAuditBoundedAndTheRecordPrompt(t *testing.T) {
	r := startRecord(t, 1)
	ctx := context.Background()
	ep := r.eps[0]
	const viewers, minutes = 250, 20 // 250 people, each reading once a minute for 20 minutes: 5,000 reads
	purpose := strings.Repeat("p", record.MaxPurposeLen)
	viewer := func(i int) string { // as long as allowed, so the summary's entries are as large as they can be
		s := fmt.Sprintf("viewer %03d ", i)
		return s + strings.Repeat("v", record.MaxViewerLen-len(s))
	}
	start := time.Now()
	for m := range minutes {
		r.clock.Set(time.Date(2026, 11, 20, 23, m, 0, 0, time.UTC))
		var wg sync.WaitGroup
		errs := make(chan error, viewers)
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < viewers; i += 8 {
					if _, err := r.view(ep, viewer(i), purpose); err != nil {
						errs <- fmt.Errorf("minute %d, viewer %d: %w", m, i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	// minutes 0-14 are one window and 15-19 another: 2 disclosures per viewer
	stored := r.disclosed(ep)
	if want := viewers * 2; len(stored) != want {
		t.Fatalf("%d disclosures stored for 5,000 reads, want %d (one per viewer per 15 minutes)", len(stored), want)
	}
	kv, err := r.bus.JetStream().KeyValue(ctx, record.DisclosuresBucket)
	if err != nil {
		t.Fatal(err)
	}
	var sum record.DisclosuresResponse
	bustest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		ds, err := rpc.Call[record.EpisodeRequest, record.DisclosuresResponse](ctx, bustest.Conn(t, r.b, ""), record.SubjectDisclosures, record.EpisodeRequest{Episode: ep})
		if err != nil {
			return err
		}
		n := ds.Dropped
		for _, d := range ds.Disclosures {
			n += d.Count
		}
		if n != len(stored) {
			return fmt.Errorf("the summary accounts for %d disclosures, want %d", n, len(stored))
		}
		sum = ds
		return nil
	})
	ent, err := kv.Get(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	size := len(ent.Value())
	t.Logf("5,000 reads in %s: %d disclosures stored, summary %d bytes, %d entries, %d disclosures dropped from it",
		elapsed.Round(time.Millisecond), len(stored), size, len(sum.Disclosures), sum.Dropped)
	if size > record.MaxDisclosureBytes || len(sum.Disclosures) > record.MaxDisclosureEntries {
		t.Fatalf("the summary is %d bytes with %d entries, bound %d bytes, %d entries", size, len(sum.Disclosures), record.MaxDisclosureBytes, record.MaxDisclosureEntries)
	}
	// the readers kept are the most recent: each last read in the second window
	for _, d := range sum.Disclosures {
		if !d.Last.Equal(time.Date(2026, 11, 20, 23, 15, 0, 0, time.UTC)) || d.Count < 1 || d.Count > 2 {
			t.Fatalf("entry %s: %d disclosures, last %s; want the second window's", d.Viewer[:10], d.Count, d.Last)
		}
	}

	// The record keeps up: a fact published now is in the projection, and a
	// new reader's view answers, promptly.
	police := bustest.Bus(t, r.b, events.Police)
	e, _, err := police.Emit(ctx, ep, &events.PersonVoiceRecorded{OwnWords: "I want to go home"}, events.At(r.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	resp, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, r.police, record.ViewSubject(events.Police),
		record.ViewRequest{Episode: ep, Viewer: "PC 4471", Purpose: "after the flood", After: e.ID})
	lat := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a view after the flood, waiting for a fact just published: %s", lat.Round(time.Microsecond))
	var view struct {
		OwnWords string `json:"ownWords"`
	}
	if err := json.Unmarshal(resp.View, &view); err != nil {
		t.Fatal(err)
	}
	if view.OwnWords != "I want to go home" || lat > 2*time.Second {
		t.Fatalf("after the flood the view took %s and shows own words %q: the record is lagging", lat, view.OwnWords)
	}
}

// The projection folds a redelivered disclosure once, and reads the list
// that earlier versions kept per episode into the bounded summary.
func TestTheDisclosureSummaryIsIdempotentAndReadsTheOldList(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	recordBus := bustest.Bus(t, b, events.Record)
	store, err := record.OpenStore(ctx, recordBus.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	ep := events.NewEpisodeID()
	at := time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)
	read := func(viewer string, at time.Time) events.Event {
		return fact(t, events.Record, ep, &events.RecordDisclosed{Viewer: viewer, Agency: events.Police, Purpose: "the call", Fields: []string{"owner"}},
			events.At(at), events.By(viewer), events.Disclosure("the call", "direct care"))
	}
	first, second := read("PC 1", at), read("PC 1", at.Add(20*time.Minute))
	for _, e := range []events.Event{first, second, first, second} { // each delivered twice
		if err := store.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := store.Disclosures(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Entries) != 1 || sum.Entries[0].Count != 2 || !sum.Entries[0].First.Equal(at) || sum.Entries[0].EventID != second.ID {
		t.Fatalf("summary %+v, want PC 1 twice", sum)
	}

	// a value as earlier versions wrote it: one element per read
	kv, err := recordBus.JetStream().KeyValue(ctx, record.DisclosuresBucket)
	if err != nil {
		t.Fatal(err)
	}
	old := events.NewEpisodeID()
	var list []map[string]any
	for i := range 400 {
		list = append(list, map[string]any{"eventId": events.NewEpisodeID(), "viewer": fmt.Sprintf("PC %d", i%3), "agency": "police",
			"purpose": "the call", "fields": []string{"owner"}, "time": at.Add(time.Duration(i) * time.Second)})
	}
	raw, _ := json.Marshal(list)
	if _, err := kv.Put(ctx, old, raw); err != nil {
		t.Fatal(err)
	}
	if sum, err = store.Disclosures(ctx, old); err != nil || len(sum.Entries) != 3 || sum.Entries[0].Count != 134 {
		t.Fatalf("old list read as %+v, %v: want 3 viewers, PC 0 134 times", sum, err)
	}
	later := fact(t, events.Record, old, &events.RecordDisclosed{Viewer: "PC 1", Agency: events.Police, Purpose: "the call", Fields: []string{"owner"}},
		events.At(at.Add(time.Hour)))
	if err := store.Apply(ctx, later); err != nil {
		t.Fatal(err)
	}
	ent, err := kv.Get(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if sum, err = store.Disclosures(ctx, old); err != nil || sum.Entries[1].Count != 134 || len(ent.Value()) >= len(raw)/10 {
		t.Fatalf("after a new read the old list of %d bytes became %d bytes: %+v, %v", len(raw), len(ent.Value()), sum, err)
	}
}
