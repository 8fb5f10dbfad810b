package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/ambulance"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/spoa"
)

// (a) A call to the control room; the control-room mental health worker
// advises; street triage attends and an s136 is avoided; the person is
// referred to SPoA, who knows her from an earlier referral (the two
// episodes are linked, not merged) and routes her to a safe haven.
func TestControlRoomTriageStreetTriageAvoidsS136AndSPoARoutesToSafeHaven(t *testing.T) {
	p := start(t)
	// SPoA's earlier episode: her GP's referral last month, with her NHS number.
	earlier := do[agency.OpenRequest, agency.OpenResponse](p, events.SPoA, "open", agency.OpenRequest{
		Actor: "SPoA clinician Ben", Channel: "referral", Summary: "GP referral: low mood, self-neglect",
		Person: &events.PersonIdentified{NHSNumber: "9434765919", GivenName: "Lena", FamilyName: "Marsh", DateOfBirth: "1988-07-02"},
	}).Episode

	open := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 2210", Channel: "101", Summary: "woman crying outside the station, talking about taking all her tablets",
		Location: "Canterbury West station",
		Person:   &events.PersonIdentified{GivenName: "Lena", FamilyName: "Marsh", AgeYears: 38},
		Voice:    &events.PersonVoiceRecorded{OwnWords: "I just need somewhere quiet to sit with someone.", CommunicationNeeds: []string{"easy_read"}},
	})
	ep := open.Episode
	pc, mhw := "PC 2209 Lowe", "control-room MH worker Amira"
	do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, pc),
		TriageRequested: events.TriageRequested{CallerAccount: "station staff", Concern: "talking about an overdose", Risk: "high"}})
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: base(ep, mhw),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "known to services; send street triage", KnownToServices: true,
			HealthHistory: healthHistory, RecommendedAction: "street_triage"}})
	do[police.RCRPRequest, agency.Receipt](p, events.Police, "rcrp.decide", police.RCRPRequest{Base: base(ep, "control room sergeant"),
		RcrpDecided: events.RcrpDecided{PoliceAttend: true, Grounds: "risk_of_serious_harm", Rationale: "overdose threat; street triage available tonight"}})
	do[police.DispatchRequest, agency.Receipt](p, events.Police, "street_triage.dispatch", police.DispatchRequest{Base: base(ep, mhw),
		StreetTriageDispatched: events.StreetTriageDispatched{Team: "East Kent street triage: PC and KMPT nurse"}})
	p.clock.Advance(40 * time.Minute)
	do[agency.StreetOutcomeRequest, agency.Receipt](p, events.SPoA, "street_triage.outcome", agency.StreetOutcomeRequest{Base: base(ep, "street triage nurse Kemi"),
		StreetTriageOutcome: events.StreetTriageOutcome{S136Avoided: true, Outcome: "referred_spoa", Notes: "calmer after talking; no plan; agreed to a safe haven"}})

	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.SPoAReferral, To: events.SPoA, Reason: "s136 avoided; needs support tonight", Urgency: "urgent"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA clinician Ben"), HandoffID: offer.HandoffID})
	p.owner(ep, events.SPoA)
	if n := p.continuity(ep, offer.HandoffID); n != offer.FactsCarried || n < 8 {
		t.Fatalf("the referral carried %d facts, %d were recorded before it", offer.FactsCarried, n)
	}

	// SPoA knows her: with her NHS number the record finds the earlier episode.
	do[agency.IdentifyRequest, agency.Receipt](p, events.SPoA, "identify", agency.IdentifyRequest{Base: base(ep, "SPoA clinician Ben"),
		PersonIdentified: events.PersonIdentified{NHSNumber: "9434765919", DateOfBirth: "1988-07-02"}})
	var matches record.MatchResponse
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		matches = do[record.EpisodeRequest, record.MatchResponse](p, events.Record, "match", record.EpisodeRequest{Episode: ep})
		if len(matches.Matches) != 1 || matches.Matches[0].Episode != earlier {
			return fmt.Errorf("matches = %+v, want the earlier episode %s", matches.Matches, earlier)
		}
		return nil
	})
	if m := matches.Matches[0].MatchedOn; !slices.Contains(m, "nhs_number") || !slices.Contains(m, "name_and_date_of_birth") {
		t.Fatalf("matched on %v, want nhs_number and name_and_date_of_birth", m)
	}
	do[agency.LinkRequest, agency.Receipt](p, events.SPoA, "link", agency.LinkRequest{Base: base(ep, "SPoA clinician Ben"),
		OtherEpisode: earlier, MatchedOn: matches.Matches[0].MatchedOn, Reason: "same NHS number, name and date of birth"})

	do[spoa.RouteRequest, agency.Receipt](p, events.SPoA, "route", spoa.RouteRequest{Base: base(ep, "SPoA clinician Ben"),
		Route: "safe_haven", Detail: "Canterbury safe haven, open 18:00-23:00; street triage nurse walks her there"})

	v := p.record(ep, p.caughtUp(ep))
	if h := v.Handoff(offer.HandoffID); h.State != episode.Completed || h.Outcome == "" {
		t.Fatalf("referral = %+v, want completed with the route", h)
	}
	if !slices.ContainsFunc(v.Decisions, func(d episode.Decision) bool { return d.What == "street triage: referred_spoa (s136 avoided)" }) {
		t.Fatalf("decisions %+v lack the s136 avoided by street triage", v.Decisions)
	}
	if v.LegalStatus != "" || v.S136 != nil {
		t.Fatalf("legal status %q, s136 %+v: nobody was detained", v.LegalStatus, v.S136)
	}
	old := p.record(earlier, p.caughtUp(earlier))
	if len(v.Links) != 1 || v.Links[0].OtherEpisode != earlier || len(old.Links) != 1 || old.Links[0].OtherEpisode != ep {
		t.Fatalf("links: this episode %+v, the earlier %+v; want each linked to the other", v.Links, old.Links)
	}
	if len(old.Timeline) != 3 || old.Owner != events.SPoA || v.Owner != events.SPoA {
		t.Fatalf("the earlier episode has %d facts (want its own 3: opened, identified, linked), owners %s/%s: linked, never merged", len(old.Timeline), old.Owner, v.Owner)
	}
	p.noClinicalInPoliceView(ep, events.SPoA)
}

// (c) The same s136 pathway, but the assessment ends in detention under s2:
// no follow-up referral; the AMHP service owns the episode.
func TestS136DetentionAssessedAndDetainedUnderSection2(t *testing.T) {
	p := start(t)
	ep := s136Pathway(t, p, "detained_s2", func() {})
	v := p.owner(ep, events.AMHP)
	if v.LegalStatus != "detained_s2" || v.S136 == nil || !v.S136.Ended || len(v.Handoffs) != 1 || v.Handoffs[0].State != episode.Completed {
		t.Fatalf("legal status %q, s136 %+v, handoffs %+v; want detained_s2, s136 ended, the assessment request completed", v.LegalStatus, v.S136, v.Handoffs)
	}
	if v.Assessment == nil || len(v.Assessment.Doctors) != 2 {
		t.Fatalf("assessment %+v, want two doctors", v.Assessment)
	}
	police, pv := p.view(ep, events.Police, "PC 4471 Hughes")
	if pv.LegalStatus != "detained_s2" {
		t.Fatalf("police see legal status %q, want detained_s2 (they need the legal status)", pv.LegalStatus)
	}
	if leaks := episode.ClinicalLeaks(police, v); len(leaks) > 0 {
		t.Fatalf("police view leaks %v", leaks)
	}
	p.noClinicalInPoliceView(ep, events.AMHP)
}

// (d) A 999 call to the ambulance service: the EOC mental health worker
// triages, the person is not conveyed (no physical health concern), and the
// EOC refers to SPoA, who sends the crisis team.
func TestAmbulanceCallNotConveyedAndReferredToSPoA(t *testing.T) {
	p := start(t)
	eoc := "EOC clinician Dev"
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", agency.OpenRequest{
		Actor: "EOC call handler 77", Channel: "999", Summary: "son says his mother has not slept for days and hears voices telling her to hurt herself",
		Location: "Gillingham", Reference: "SECAMB-4471192",
		Person: &events.PersonIdentified{GivenName: "Ruth", FamilyName: "Adeyemi", AgeYears: 61, Phone: "07700900789"},
		Voice:  &events.PersonVoiceRecorded{OwnWords: "I don't want to leave the house.", CommunicationNeeds: []string{"interpreter"}, Language: "Yoruba"},
	}).Episode
	do[ambulance.CallRequest, agency.Receipt](p, events.Ambulance, "call.triage", ambulance.CallRequest{Base: base(ep, eoc),
		AmbulanceCallTriaged: events.AmbulanceCallTriaged{Response: "hear_and_treat", PhysicalHealthConcern: false, MentalHealthWorkerInvolved: true,
			Notes: "command hallucinations; no injuries; eating and drinking"}})
	do[agency.AdviceRequest, agency.Receipt](p, events.Ambulance, "triage.advice", agency.AdviceRequest{Base: base(ep, "EOC MH worker Kay"),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "no need for A&E; urgent crisis team assessment at home", HealthHistory: healthHistory, RecommendedAction: "refer_spoa"}})
	do[ambulance.ConveyanceRequest, agency.Receipt](p, events.Ambulance, "conveyance", ambulance.ConveyanceRequest{Base: base(ep, eoc),
		AmbulanceConveyance: events.AmbulanceConveyance{Conveyed: false, Reason: "no physical health concern; A&E would not help her"}})
	refused(p, events.Ambulance, "conveyance", ambulance.ConveyanceRequest{Base: base(ep, eoc),
		AmbulanceConveyance: events.AmbulanceConveyance{Conveyed: true, Reason: "changed mind"}}, 400, "destination is required")

	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Ambulance, "handoff.offer", agency.OfferRequest{Base: base(ep, eoc),
		Kind: events.SPoAReferral, To: events.SPoA, Reason: "not conveyed; needs the crisis team today", Urgency: "urgent"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA nurse Ola"), HandoffID: offer.HandoffID})
	p.owner(ep, events.SPoA)
	if n := p.continuity(ep, offer.HandoffID); n != 6 {
		t.Fatalf("the referral carried %d facts, want the 6 recorded", n)
	}
	do[spoa.RouteRequest, agency.Receipt](p, events.SPoA, "route", spoa.RouteRequest{Base: base(ep, "SPoA nurse Ola"),
		Route: "crisis_team", Detail: "Medway crisis resolution and home treatment team visits within 4 hours, with a Yoruba interpreter"})
	v := p.record(ep, p.caughtUp(ep))
	if !slices.ContainsFunc(v.Decisions, func(d episode.Decision) bool { return d.What == "not conveyed" }) || v.Handoffs[0].State != episode.Completed {
		t.Fatalf("decisions %+v, handoff %+v", v.Decisions, v.Handoffs[0])
	}
	if v.Language != "Yoruba" || !slices.Contains(v.Needs, "interpreter") {
		t.Fatalf("the person's needs were lost: %q %v", v.Language, v.Needs)
	}
	p.noClinicalInPoliceView(ep, events.SPoA)
}

// (e) A 16-year-old detained under s136: a police station is refused, even
// with every adult condition met; SPoA cannot allocate one either; the
// children's s136 suite is used and the AMHP service is asked to assess.
func TestSixteenYearOldDetainedUnderS136IsNeverHeldInAPoliceStation(t *testing.T) {
	p := start(t)
	pc := "PC 881 Shah"
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 1123", Channel: "999", Summary: "teenager on the railway footbridge, says she wants to jump",
		Person: &events.PersonIdentified{GivenName: "Maya", FamilyName: "Harper", AgeYears: 16},
	}).Episode
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: base(ep, "control-room MH worker Amira"),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "known to CAMHS; health-based place of safety for under-18s only", KnownToServices: true,
			HealthHistory: "CAMHS: self-harm since age 14; on a waiting list", RecommendedAction: "consider_s136"}})
	do[police.ConsultRequest, agency.Receipt](p, events.Police, "s136.consult", police.ConsultRequest{Base: base(ep, pc),
		S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "detain; the children's suite in Dartford"}})
	do[police.DetainRequest, agency.Receipt](p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc),
		DetainedAt: p.clock.Now(), LocationType: "transport", AgeYears: 16})

	allMet := &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true, InspectorAuthorisation: "Insp. Cole", HealthProfessionalConsulted: true}
	refused(p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{
		ArrivedAt: p.clock.Now(), PlaceType: events.PoliceStation, PlaceName: "Medway police station", PoliceStation: allMet}}, 403, "s136A(1): a police station may never be used as a place of safety for a person under 18 (the person is 16)")
	refused(p, events.SPoA, "pos.allocate", spoa.AllocateRequest{Base: base(ep, "SPoA bed manager"), PlaceOfSafetyAllocated: events.PlaceOfSafetyAllocated{
		PlaceType: events.PoliceStation, PlaceName: "Medway police station"}}, 403, "s136A")
	do[spoa.AllocateRequest, agency.Receipt](p, events.SPoA, "pos.allocate", spoa.AllocateRequest{Base: base(ep, "SPoA bed manager"),
		PlaceOfSafetyAllocated: events.PlaceOfSafetyAllocated{PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Dartford children's s136 suite"}})
	p.clock.Advance(70 * time.Minute)
	do[police.ArriveRequest, agency.Receipt](p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{
		ArrivedAt: p.clock.Now(), PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Dartford children's s136 suite"}})
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "16-year-old detained under s136 at the children's suite", Urgency: "emergency"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Leon"), HandoffID: offer.HandoffID})
	p.owner(ep, events.AMHP)
	p.continuity(ep, offer.HandoffID)

	v := p.record(ep, p.caughtUp(ep))
	if v.S136 == nil || v.S136.PlaceType != events.HealthBasedPlaceOfSafety || v.S136.AgeYears != 16 {
		t.Fatalf("s136 = %+v, want the 16-year-old at a health-based place of safety", v.S136)
	}
	for _, e := range p.stored(ep) {
		var arrived events.PlaceOfSafetyArrived
		if e.DecodeInto(&arrived) == nil && arrived.PlaceType == events.PoliceStation {
			t.Fatalf("a police station arrival was stored for a 16-year-old: %s", e.ID)
		}
	}
	p.noClinicalInPoliceView(ep, events.AMHP)
}

// (f) The AMHP service declines the assessment request (another team
// covers it); police keep the episode and offer it again; the AMHP service
// accepts the second offer, which carries the first and its decline too.
func TestAMHPDeclinesAndTheAssessmentIsOfferedAgain(t *testing.T) {
	p := start(t)
	ep := detainedUnderS136(t, p, func() {})
	pc := "PC 4471 Hughes"
	first := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "detained under s136; assessment needed", Urgency: "emergency"})
	p.acknowledged(ep, first.HandoffID)
	do[agency.DeclineRequest, agency.Receipt](p, events.AMHP, "handoff.decline", agency.DeclineRequest{
		HandoffRequest: agency.HandoffRequest{Base: base(ep, "AMHP duty manager"), HandoffID: first.HandoffID},
		Reason:         "reassign", Detail: "Medway in hours is the Medway AMHP team's; re-offer to us after 17:00 for out-of-hours cover"})
	p.owner(ep, events.Police)
	refused(p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Sarah Okafor"), HandoffID: first.HandoffID}, 409, "declined")

	p.clock.Advance(20 * time.Minute)
	second := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "re-offered for out-of-hours cover", Urgency: "emergency"})
	if second.FactsCarried != first.FactsCarried+3 {
		t.Fatalf("second offer carried %d facts, want the first's %d plus the offer, acknowledgement and decline", second.FactsCarried, first.FactsCarried)
	}
	p.acknowledged(ep, second.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Sarah Okafor"), HandoffID: second.HandoffID})
	v := p.owner(ep, events.AMHP)
	p.continuity(ep, second.HandoffID)
	if h := v.Handoff(first.HandoffID); h.State != episode.Declined || h.DeclineReason != "reassign" {
		t.Fatalf("first handoff = %+v, want declined (reassign)", h)
	}
	p.noClinicalInPoliceView(ep, events.AMHP)
}
