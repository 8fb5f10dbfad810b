package episode_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// a night in the control room: opened by police, a triage request and the
// control-room mental health worker's advice with health history (the
// trust's), an s136 detention, and an assessment request to the AMHP service.
func night(t testing.TB, ep string) []events.Event {
	handoff := events.NewEpisodeID()
	return []events.Event{
		fact(t, events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "man on the bridge"}),
		fact(t, events.Police, ep, &events.PersonVoiceRecorded{OwnWords: "ring my sister", WhoToContact: "Jo 07700900456", CrisisPlan: "no A&E"}),
		fact(t, events.Police, ep, &events.TriageRequested{CallerAccount: "man on the parapet", Concern: "says he will jump"}),
		fact(t, events.SPoA, ep, &events.TriageAdviceGiven{Advice: "s136 appropriate", HealthHistory: "bipolar disorder; lithium", RecommendedAction: "consider_s136"}),
		fact(t, events.Police, ep, &events.S136Detained{DetainedAt: time.Date(2026, 11, 20, 23, 5, 0, 0, time.UTC), LocationType: "public_place", AgeYears: 34, Consulted: true}),
		fact(t, events.Police, ep, &events.HandoffOffered{HandoffID: handoff, Kind: events.MHAAssessment, To: events.AMHP, Reason: "assess", Urgency: "emergency",
			Summary: events.Summary{Facts: []events.Fact{}}}),
		fact(t, events.AMHP, ep, &events.HandoffAccepted{HandoffID: handoff, AcceptedBy: "AMHP Sarah"}, events.To(events.Police)),
		fact(t, events.AMHP, ep, &events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC), Notes: "no psychosis"}),
	}
}

func TestFoldingTheNightGivesOneOwnerAndAppliesEachEventOnce(t *testing.T) {
	ep := events.NewEpisodeID()
	v := episode.New(ep)
	for _, e := range night(t, ep) {
		for range 2 { // redelivered: the second time changes nothing
			if _, err := v.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(v.Timeline) != 8 || v.Owner != events.AMHP || v.LegalStatus != "not_admitted" || !v.S136.Ended {
		t.Fatalf("timeline %d, owner %s, legal %q, s136 %+v", len(v.Timeline), v.Owner, v.LegalStatus, v.S136)
	}
	if len(v.Clinical) != 2 {
		t.Fatalf("clinical notes = %+v, want the health history and the assessment notes", v.Clinical)
	}
	s := v.Summary()
	if missing := episode.MissingFacts(v.Timeline, s); len(missing) > 0 {
		t.Fatalf("summary lacks %v", missing)
	}
	raw, _ := json.Marshal(s)
	for _, n := range v.Clinical {
		if strings.Contains(string(raw), n.Text) {
			t.Fatalf("the handoff summary, which may go to police, carries clinical text %q", n.Text)
		}
	}
}

func TestPoliceSeeRiskContactPlanAndLegalStatusButNoClinicalField(t *testing.T) {
	ep := events.NewEpisodeID()
	v := episode.New(ep)
	for _, e := range night(t, ep) {
		if _, err := v.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	police, fields, err := episode.ForAgency(v, events.Police)
	if err != nil {
		t.Fatal(err)
	}
	if leaks := episode.ClinicalLeaks(police, v); len(leaks) > 0 {
		t.Fatalf("police view leaks %v", leaks)
	}
	for _, want := range []string{"whoToContact", "crisisPlan", "legalStatus", "risks", "s136", "timeline", "owner"} {
		if _, ok := police[want]; !ok {
			t.Fatalf("police view lacks %s; it has %v", want, fields)
		}
	}
	amhp, _, _ := episode.ForAgency(v, events.AMHP)
	if leaks := episode.ClinicalLeaks(amhp, v); len(leaks) != 3 {
		t.Fatalf("the AMHP view shows %v, want the clinical field and both notes", leaks)
	}
	if _, _, err := episode.ForAgency(v, events.Clock); err == nil {
		t.Fatal("the clock service was given a view of the record")
	}
}

func TestAHandoffBreachedUnansweredIsMarkedEscalated(t *testing.T) {
	ep := events.NewEpisodeID()
	v := episode.New(ep)
	evs := night(t, ep)[:6]
	var offer events.HandoffOffered
	_ = evs[5].DecodeInto(&offer)
	evs = append(evs, fact(t, events.Clock, ep, &events.ClockBreached{Clock: events.HandoffAcceptClock, Ref: offer.HandoffID, Owner: events.Police,
		DueAt: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), SecondsOver: 60, Repeat: 1}))
	for _, e := range evs {
		if _, err := v.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	if h := v.Handoff(offer.HandoffID); !h.Escalated || h.State != episode.Offered || len(v.Clocks) != 1 || !v.Clocks[0].Breached {
		t.Fatalf("handoff %+v, clocks %+v: want escalated and still offered", h, v.Clocks)
	}
}
