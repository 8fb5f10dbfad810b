package record_test

import (
	"context"
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
					if ids, _ := r.Store().Search(ctx, term); len(ids) != 1 {
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
