package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The control room finds Aisha again after the AMHP service took her on:
// by a word of her name, both words, her NHS number as typed with spaces,
// her phone number, or the reference read over the phone (in lower case,
// with an O heard for a 0). It finds only episodes it has had a part in;
// each episode found is a disclosure to the person who searched; the
// "handed on" list holds what the AMHP service now has; and what was
// typed is in no line of the record's log.
func TestTheControlRoomFindsAnEpisodeItHandedOnByNameNHSNumberPhoneOrReference(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police, amhp, ambulance := bustest.Bus(t, b, events.Police), bustest.Bus(t, b, events.AMHP), bustest.Bus(t, b, events.Ambulance)
	core, logs := observer.New(zap.DebugLevel)
	recBus := bustest.Bus(t, b, events.Record)
	r, err := record.Start(ctx, record.Config{Bus: recBus, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	handedOn, own, notOurs := events.NewEpisodeID(), events.NewEpisodeID(), events.NewEpisodeID()
	handoff := events.NewEpisodeID()
	for _, e := range []events.Event{
		fact(t, events.Police, handedOn, &events.EpisodeOpened{Channel: "999", Summary: "woman on the bridge"}),
		fact(t, events.Police, handedOn, &events.PersonIdentified{GivenName: "Aisha", FamilyName: "Rahman", NHSNumber: "9434765919", Phone: "07700 900123"}),
		fact(t, events.Police, handedOn, &events.HandoffOffered{HandoffID: handoff, Kind: events.MHAAssessment, To: events.AMHP, Reason: "assess", Urgency: "emergency",
			Summary: events.Summary{Facts: []events.Fact{}}}),
		fact(t, events.AMHP, handedOn, &events.HandoffAccepted{HandoffID: handoff, AcceptedBy: "AMHP Sarah"}, events.To(events.Police)),
		fact(t, events.Police, own, &events.EpisodeOpened{Channel: "999", Summary: "caller worried about her friend"}),
		fact(t, events.Police, own, &events.PersonIdentified{GivenName: "Aisha", FamilyName: "Khan"}),
		fact(t, events.Ambulance, notOurs, &events.EpisodeOpened{Channel: "999", Summary: "chest pain, anxious"}),
		fact(t, events.Ambulance, notOurs, &events.PersonIdentified{GivenName: "Aisha", FamilyName: "Patel"}),
	} {
		bus := police
		switch e.Source {
		case events.AMHP:
			bus = amhp
		case events.Ambulance:
			bus = ambulance
		}
		if _, err := bus.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	conn := bustest.Conn(t, b, events.Police)
	search := func(term string) ([]string, error) {
		resp, err := rpc.Call[record.SearchRequest, record.SearchResponse](ctx, conn, record.SearchSubject(events.Police),
			record.SearchRequest{Viewer: "Dee Walsh (police.mhw)", Purpose: "finding an episode the control room had", Term: term})
		var ids []string
		for _, it := range resp.Items {
			ids = append(ids, it.Episode)
		}
		slices.Sort(ids)
		return ids, err
	}
	both := []string{handedOn, own}
	slices.Sort(both)
	ref := strings.ToLower(strings.ReplaceAll(episode.Reference(handedOn), "0", "O"))
	for _, c := range []struct {
		term string
		want []string
	}{
		{"Aisha", both},
		{"aisha RAHMAN", []string{handedOn}},
		{"943 476 5919", []string{handedOn}},
		{"07700 900123", []string{handedOn}},
		{ref, []string{handedOn}},
		{"Patel", nil},
		{"Nobody", nil},
	} {
		bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			got, err := search(c.term)
			if err != nil {
				return err
			}
			if !slices.Equal(got, c.want) {
				return fmt.Errorf("a search for %q finds %v, want %v (handed on %s, own %s, the ambulance's %s)", c.term, got, c.want, handedOn, own, notOurs)
			}
			return nil
		})
	}
	if _, err := search(strings.Repeat("a", record.MaxSearchLen+1)); err == nil || rpc.CodeOf(err) != rpc.BadRequest || !strings.Contains(err.Error(), "term is 101 characters") {
		t.Errorf("an over-long term: %v, want 400 naming the term and its length", err)
	}

	// What was found was disclosed to the person who searched; the
	// ambulance's episode, never shown, was not.
	var searched int
	for _, d := range disclosedOn(t, recBus, handedOn) {
		if d.Viewer == "Dee Walsh (police.mhw)" && d.Purpose == "finding an episode the control room had" && slices.Contains(d.Fields, "worklist.person") {
			searched++
		}
	}
	if searched == 0 {
		t.Error("the episode found is not recorded as disclosed to the person who searched")
	}
	for _, d := range disclosedOn(t, recBus, notOurs) {
		if d.Agency == events.Police {
			t.Errorf("the ambulance's episode, never found by the police, was disclosed to them: %+v", d)
		}
	}

	// The handed-on list: Aisha Rahman, now with the AMHP service; not
	// the episode the control room still holds (that is on its worklist).
	list, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](ctx, conn, record.HandedOnSubject(events.Police),
		record.WorklistRequest{Viewer: "Dee Walsh (police.mhw)", Purpose: "what the control room handed on"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Episode != handedOn || list.Items[0].Owner != events.AMHP || list.Items[0].Person != "Aisha Rahman" {
		t.Errorf("the control room's handed-on list: %+v, want Aisha Rahman with the AMHP service", list.Items)
	}
	amhpConn := bustest.Conn(t, b, events.AMHP)
	if l, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](ctx, amhpConn, record.HandedOnSubject(events.AMHP),
		record.WorklistRequest{Viewer: "AMHP Sarah", Purpose: "what the AMHP service handed on"}); err != nil || len(l.Items) != 0 {
		t.Errorf("the AMHP service holds Aisha's episode; its handed-on list is %+v (%v), want it empty", l.Items, err)
	}
	// The police may not search as the AMHP service.
	if _, err := rpc.Call[record.SearchRequest, record.SearchResponse](ctx, conn, record.SearchSubject(events.AMHP),
		record.SearchRequest{Viewer: "Dee Walsh", Purpose: "p", Term: "Aisha"}); err == nil {
		t.Error("a police connection searched as the AMHP service")
	}

	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, typed := range []string{"aisha", "rahman", "5919", "900123", ref} {
			if strings.Contains(strings.ToLower(line), typed) {
				t.Errorf("the record logged what was searched for (%q): %s", typed, line)
			}
		}
	}
}

func disclosedOn(t *testing.T, bus *natsbus.Bus, ep string) []events.RecordDisclosed {
	t.Helper()
	var out []events.RecordDisclosed
	bustest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		out = out[:0]
		_, err := bus.Replay(context.Background(), events.EpisodeSubjects(ep), func(e events.Event, _ uint64) error {
			if e.Type != "crisisbus.record.disclosed.v1" {
				return nil
			}
			var d events.RecordDisclosed
			if err := e.DecodeInto(&d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		}, nil)
		return err
	})
	return out
}

// BenchmarkSearch finds one person by name, by reference and by NHS number
// among n episodes, over NATS as the console asks (each answer disclosed):
// the time should not grow with n, since the search reads only the
// episodes filed under what was typed.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{100, 2000} {
		b.Run(fmt.Sprintf("episodes=%d", n), func(b *testing.B) {
			ctx := context.Background()
			br := bustest.Start(b, "")
			police := bustest.Bus(b, br, events.Police)
			r, err := record.Start(ctx, record.Config{Bus: bustest.Bus(b, br, events.Record), Log: zap.NewNop()})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Stop()
			var last string
			for i := range n {
				ep := events.NewEpisodeID()
				for _, data := range []any{&events.EpisodeOpened{Channel: "999", Summary: "call"},
					&events.PersonIdentified{GivenName: fmt.Sprintf("Given%d", i), FamilyName: fmt.Sprintf("Family%d", i%50)}} {
					e, err := events.New(events.Police, ep, data)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := police.Publish(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
				last = ep
			}
			terms := []string{fmt.Sprintf("Given%d", n-1), episode.Reference(last)}
			bustest.CheckFor(b, 2*time.Minute, 50*time.Millisecond, func() error {
				for _, term := range terms {
					if ids, _, _ := r.Store().Search(ctx, term); len(ids) != 1 {
						return fmt.Errorf("the last episode is not indexed under %q yet", term)
					}
				}
				return nil
			})
			conn := bustest.Conn(b, br, events.Police)
			b.ResetTimer()
			for i := range b.N {
				resp, err := rpc.Call[record.SearchRequest, record.SearchResponse](ctx, conn, record.SearchSubject(events.Police),
					record.SearchRequest{Viewer: "Dee Walsh", Purpose: "benchmark", Term: terms[i%2]})
				if err != nil || len(resp.Items) != 1 {
					b.Fatalf("search %q: %d found, %v", terms[i%2], len(resp.Items), err)
				}
			}
		})
	}
}

// Years of episodes bring thousands of people called Sam. The record files
// each under "sam" as its own small key, so no value in the person index
// grows with them; a search for "Sam Okafor" still finds the one Sam
// Okafor among them, the newest first, and a search for "Sam" alone
// answers at once with a page and asks for more of the name.
func TestACommonFirstNameStaysCheapToFileAndToSearch(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	r, err := record.Start(ctx, record.Config{Bus: bustest.Bus(t, b, events.Record), Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	const sams = 2500 // more than one read of the index takes
	var batch []events.Event
	var okafor string
	for i := range sams {
		ep := events.NewEpisodeID()
		family := fmt.Sprintf("Fill%05d", i)
		if i == sams/2 {
			family, okafor = "Okafor", ep
		}
		batch = append(batch,
			fact(t, events.Police, ep, &events.EpisodeOpened{Channel: "101", Summary: "call"}),
			fact(t, events.Police, ep, &events.PersonIdentified{GivenName: "Sam", FamilyName: family}))
	}
	for _, res := range police.PublishBatch(ctx, batch) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	conn := bustest.Conn(t, b, events.Police)
	search := func(term string) (record.SearchResponse, error) {
		return rpc.Call[record.SearchRequest, record.SearchResponse](ctx, conn, record.SearchSubject(events.Police),
			record.SearchRequest{Viewer: "Dee Walsh (police.mhw)", Purpose: "finding an episode the control room had", Term: term})
	}
	bustest.CheckFor(t, 2*time.Minute, 200*time.Millisecond, func() error {
		last := fmt.Sprintf("Fill%05d", sams-1)
		if resp, err := search("Sam " + last); err != nil || len(resp.Items) != 1 {
			return fmt.Errorf("the record has not yet filed the last Sam (%s): %v", last, err)
		}
		return nil
	})
	resp, err := search("sam okafor")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != 1 || resp.Items[0].Episode != okafor || resp.Items[0].Person != "Sam Okafor" {
		t.Fatalf("a search for Sam Okafor among %d Sams finds %+v, want episode %s", sams, resp.Items, okafor)
	}
	resp, err = search("Sam")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != record.MaxSearchResults || !resp.More {
		t.Fatalf("a search for Sam among %d: %d found, more %v; want a page of %d and more", sams, len(resp.Items), resp.More, record.MaxSearchResults)
	}

	// No value in the person index holds a list that grows.
	kv, err := bustest.Bus(t, b, events.Record).JetStream().KeyValue(ctx, record.PeopleBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range keys.Keys() {
		n++
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.Value()) > 64 {
			t.Fatalf("the person index holds %d bytes under %s: a value grows with the episodes filed under it", len(e.Value()), k)
		}
	}
	if n < 3*sams {
		t.Fatalf("the person index holds %d keys for %d episodes, each filed by reference and two words of its name", n, sams)
	}
}

// A record whose person index an earlier crisisbus wrote (a list of
// episodes under each key) re-files it once when it starts: Zainab is
// found by name as before, and the list is gone.
func TestAnIndexOfTheEarlierLayoutIsRefiledWhenTheRecordStarts(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police, recBus := bustest.Bus(t, b, events.Police), bustest.Bus(t, b, events.Record)
	ep := events.NewEpisodeID()
	for _, e := range []events.Event{
		fact(t, events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "woman in distress"}),
		fact(t, events.Police, ep, &events.PersonIdentified{GivenName: "Zainab", FamilyName: "Hussain"}),
	} {
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	r, err := record.Start(ctx, record.Config{Bus: recBus, Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if found, _, err := r.Store().Search(ctx, "zainab"); err != nil || len(found) != 1 {
			return fmt.Errorf("Zainab is not filed yet (%v)", err)
		}
		return nil
	})
	r.Stop()
	// The index as the earlier crisisbus left it.
	kv, err := recBus.JetStream().KeyValue(ctx, record.PeopleBucket)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lists := map[string][]string{}
	for k := range keys.Keys() {
		if err := kv.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if old, ok := strings.CutSuffix(k, "."+ep); ok {
			lists[old] = append(lists[old], ep)
		}
	}
	for k, ids := range lists {
		raw, _ := json.Marshal(ids)
		if _, err := kv.Put(ctx, k, raw); err != nil {
			t.Fatal(err)
		}
	}
	if len(lists) < 3 {
		t.Fatalf("Zainab was filed under %v, want her reference and both names", lists)
	}

	r, err = record.Start(ctx, record.Config{Bus: recBus, Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	for _, term := range []string{"Zainab", "zainab hussain", episode.Reference(ep)} {
		if found, _, err := r.Store().Search(ctx, term); err != nil || len(found) != 1 {
			t.Errorf("after re-filing, a search for %q finds %d (%v), want Zainab's episode", term, len(found), err)
		}
	}
	for k := range lists {
		if _, err := kv.Get(ctx, k); err == nil {
			t.Errorf("the old list under %s is still in the index", k)
		}
	}
}
