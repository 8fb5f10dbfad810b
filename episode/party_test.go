package episode_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// SPoA's episode of a GP referral, with the clinician's triage advice:
// no other agency has a part in it.
func spoaReferral(t *testing.T, ep string) *episode.View {
	t.Helper()
	v := episode.New(ep)
	for _, e := range []events.Event{
		fact(t, events.SPoA, ep, &events.EpisodeOpened{Channel: "referral", Summary: "GP referral, low mood"}),
		fact(t, events.SPoA, ep, &events.PersonIdentified{GivenName: "Sam", FamilyName: "Reed", NHSNumber: "9434765919"}),
		fact(t, events.SPoA, ep, &events.TriageAdviceGiven{Advice: "CMHT review", HealthHistory: "bipolar disorder; lithium", RecommendedAction: "refer_spoa"}),
	} {
		if _, err := v.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	return &v
}

// What an agency's commands refuse, its password alone cannot do by
// publishing straight to the bus: the record keeps the fact as a conflict,
// not applied, and the agency gains no part by it.
func TestAFactAnAgencyCouldNotRecordThroughItsCommandsIsNotApplied(t *testing.T) {
	for _, c := range []struct {
		name   string
		by     events.Agency
		data   any
		reason string
	}{
		{"police, with no part, say who the person is", events.Police,
			&events.PersonIdentified{GivenName: "Someone", FamilyName: "Else", NHSNumber: "4010232137"}, "has no part in the episode"},
		{"the ambulance service, with no part, closes the episode", events.Ambulance,
			&events.EpisodeClosed{Reason: "closed by someone who does not own it"}, "has no part in the episode"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep := events.NewEpisodeID()
			v := spoaReferral(t, ep)
			if _, err := v.Apply(fact(t, c.by, ep, c.data)); err != nil {
				t.Fatal(err)
			}
			if v.Person.NHSNumber != "9434765919" || v.Closed || len(v.Timeline) != 3 {
				t.Fatalf("applied: person %+v, closed %v, %d facts on the timeline", v.Person, v.Closed, len(v.Timeline))
			}
			if len(v.Conflicts) != 1 || !strings.Contains(v.Conflicts[0], c.reason) {
				t.Fatalf("conflicts = %q, want one saying %q", v.Conflicts, c.reason)
			}
			if v.HasPart(c.by) {
				t.Fatalf("the %s has a part in the episode by a fact not applied", c.by)
			}
		})
	}

	t.Run("an agency with a part, not holding the episode, closes it", func(t *testing.T) {
		ep := events.NewEpisodeID()
		v := spoaReferral(t, ep)
		offer := events.NewEpisodeID()
		for _, e := range []events.Event{
			fact(t, events.SPoA, ep, &events.HandoffOffered{HandoffID: offer, Kind: events.FollowUp, To: events.Crisisline, Reason: "follow-up", Urgency: "routine", Summary: events.Summary{Facts: []events.Fact{}}}),
			fact(t, events.Crisisline, ep, &events.HandoffDeclined{HandoffID: offer, Reason: "not_appropriate", Detail: "not ours"}, events.To(events.SPoA)),
			fact(t, events.Crisisline, ep, &events.EpisodeClosed{Reason: "closing what is not ours"}),
		} {
			if _, err := v.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
		if v.Closed || len(v.Conflicts) != 1 || !strings.Contains(v.Conflicts[0], "only the owner closes the episode") {
			t.Fatalf("closed %v, conflicts %q: want not closed, the close a conflict", v.Closed, v.Conflicts)
		}
	})

	t.Run("police record clinical text on their own episode", func(t *testing.T) {
		ep := events.NewEpisodeID()
		v := episode.New(ep)
		for _, e := range []events.Event{
			fact(t, events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "man on a bridge"}),
			fact(t, events.Police, ep, &events.TriageAdviceGiven{Advice: "x", HealthHistory: "schizophrenia; clozapine", RecommendedAction: "refer_spoa"}),
		} {
			if _, err := v.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
		if len(v.Clinical) != 0 || len(v.Conflicts) != 1 || !strings.Contains(v.Conflicts[0], "healthHistory is clinical") {
			t.Fatalf("clinical %+v, conflicts %q: want no clinical note, the fact a conflict", v.Clinical, v.Conflicts)
		}
	})
}

// A triage request, a street triage team or a place of safety asks the
// mental health trust's staff for something: the trust (SPoA) has a part
// in that episode, and answers on it. Linking two episodes as the same
// person gives no part in the other agency's.
func TestWhoHasAPartInAnEpisode(t *testing.T) {
	ep := events.NewEpisodeID()
	v := episode.New(ep)
	other := events.NewEpisodeID()
	for _, e := range []events.Event{
		fact(t, events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "woman on the railway bridge"}),
		fact(t, events.Ambulance, ep, &events.EpisodeLinked{OtherEpisode: other, MatchedOn: []string{"nhs_number"}, Reason: "same NHS number"}),
	} {
		if _, err := v.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.Links) != 1 || v.HasPart(events.Ambulance) || v.HasPart(events.SPoA) {
		t.Fatalf("links %+v; ambulance has a part: %v, SPoA: %v; want the link kept and neither a part", v.Links, v.HasPart(events.Ambulance), v.HasPart(events.SPoA))
	}
	req := fact(t, events.Police, ep, &events.TriageRequested{CallerAccount: "on the bridge", Concern: "says she will jump"})
	if _, err := v.Apply(req); err != nil {
		t.Fatal(err)
	}
	if !v.HasPart(events.SPoA) || !slices.Contains(episode.Parties(req), events.SPoA) {
		t.Fatalf("a triage request: SPoA has a part %v, parties %v", v.HasPart(events.SPoA), episode.Parties(req))
	}
	advice := fact(t, events.SPoA, ep, &events.TriageAdviceGiven{Advice: "s136 appropriate", HealthHistory: "bipolar disorder", RecommendedAction: "consider_s136"})
	if _, err := v.Apply(advice); err != nil {
		t.Fatal(err)
	}
	if len(v.Conflicts) != 0 || len(v.Clinical) != 1 {
		t.Fatalf("the trust's advice: conflicts %q, clinical %+v", v.Conflicts, v.Clinical)
	}
}
