package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
)

func fact(t *testing.T, a events.Agency, ep string, data any, opts ...events.Option) events.Event {
	t.Helper()
	e, err := events.New(a, ep, data, append([]events.Option{events.At(time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Validate(e); err != nil {
		t.Fatal(err)
	}
	return e
}

// a night in the control room: opened by police, triage advice with health
// history, an s136 detention, and an assessment request to the AMHP service.
func night(t *testing.T, ep string) []events.Event {
	handoff := events.NewEpisodeID()
	return []events.Event{
		fact(t, events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "man on the bridge"}),
		fact(t, events.Police, ep, &events.PersonVoiceRecorded{OwnWords: "ring my sister", WhoToContact: "Jo 07700900456", CrisisPlan: "no A&E"}),
		fact(t, events.Police, ep, &events.TriageAdviceGiven{Advice: "s136 appropriate", RecommendedAction: "consider_s136"}),
		fact(t, events.Police, ep, &events.S136Detained{DetainedAt: time.Date(2026, 11, 20, 23, 5, 0, 0, time.UTC), LocationType: "public_place", AgeYears: 34, Consulted: true}),
		fact(t, events.Police, ep, &events.HandoffOffered{HandoffID: handoff, Kind: events.MHAAssessment, To: events.AMHP, Reason: "assess", Urgency: "emergency",
			Summary: events.Summary{Facts: []events.Fact{}}}),
		fact(t, events.AMHP, ep, &events.HandoffAccepted{HandoffID: handoff, AcceptedBy: "AMHP Sarah"}, events.To(events.Police)),
		fact(t, events.AMHP, ep, &events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC), Notes: "no psychosis"}),
	}
}

// The projection in the key-value bucket is the same as a replay of the
// stream, and deleting it and replaying everything gives it back.
func TestTheRecordIsRebuiltByReplayingTheStream(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	amhp := bustest.Bus(t, b, events.AMHP)
	rec := bustest.Bus(t, b, events.Record)
	eps := []string{events.NewEpisodeID(), events.NewEpisodeID()}
	for _, ep := range eps {
		for _, e := range night(t, ep) {
			bus := police
			if e.Source == events.AMHP {
				bus = amhp
			}
			if _, err := bus.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	wait := func(r *record.Record) map[string]string {
		out := map[string]string{}
		for _, ep := range eps {
			bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				v, _, _, err := r.Store().Get(ctx, ep)
				if err != nil {
					return err
				}
				if len(v.Timeline) != 7 {
					return fmt.Errorf("episode %s has %d facts, want 7", ep, len(v.Timeline))
				}
				raw, _ := json.Marshal(v)
				out[ep] = string(raw)
				return nil
			})
		}
		return out
	}
	r, err := record.Start(ctx, record.Config{Bus: rec})
	if err != nil {
		t.Fatal(err)
	}
	first := wait(r)
	for _, ep := range eps {
		replayed, seq, err := record.Load(ctx, rec, ep)
		if err != nil || seq == 0 {
			t.Fatalf("replay: seq %d, %v", seq, err)
		}
		if raw, _ := json.Marshal(replayed); string(raw) != first[ep] {
			t.Fatalf("replay differs from the projection:\n%s\n%s", raw, first[ep])
		}
	}
	r.Stop()
	if err := record.Rebuild(ctx, rec.JetStream()); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := r.Store().Get(ctx, eps[0]); ok {
		t.Fatal("rebuild left the old view in place")
	}
	r2, err := record.Start(ctx, record.Config{Bus: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	if again := wait(r2); again[eps[0]] != first[eps[0]] || again[eps[1]] != first[eps[1]] {
		t.Fatal("the rebuilt record differs from the first")
	}
}
