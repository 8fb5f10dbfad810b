package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/crisisline"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/spoa"
)

// Clinical words recorded in the scenarios: health agencies see them, police never.
const (
	healthHistory   = "Known to the Medway CMHT; bipolar affective disorder; lithium; last admitted 2025"
	assessmentNotes = "No evidence of psychosis; low mood after a bereavement; protective factors: his sister"
)

// detainedUnderS136 runs the pathway up to the AMHP service's acceptance of
// the assessment request: a 999 call, triage advice, the consultation, an
// s136 detention on a bridge, a health-based place of safety. mid runs
// right after the police offer the assessment, before anyone has seen it.
func detainedUnderS136(t *testing.T, p *pathway, mid func()) (ep string) {
	t.Helper()
	pc := "PC 4471 Hughes"
	mhw := "control-room MH worker Amira"
	open := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 1123", Channel: "999", Summary: "man standing on the outside of the bridge railing, says he wants to end it",
		Location: "Medway Bridge, Rochester", Reference: "KENT-20261120-0788",
		Person: &events.PersonIdentified{GivenName: "Daniel", FamilyName: "Reed", DateOfBirth: "1992-03-14", AgeYears: 34, Phone: "07700900123"},
		Voice: &events.PersonVoiceRecorded{OwnWords: "Don't take me to A&E. Ring my sister Jo, she knows what helps.",
			WhoToContact: "sister Jo Reed 07700900456", CrisisPlan: "quiet room, talk to Jo, no A&E"},
	})
	ep = open.Episode
	p.owner(ep, events.Police)

	do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, pc),
		TriageRequested: events.TriageRequested{CallerAccount: "passer-by on the bridge", Concern: "threatening to jump", Risk: "immediate"}})
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: base(ep, mhw),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "known to services; an s136 to a health-based place of safety is appropriate if he cannot be talked down",
			KnownToServices: true, HealthHistory: healthHistory, RecommendedAction: "consider_s136"}})
	do[police.RCRPRequest, agency.Receipt](p, events.Police, "rcrp.decide", police.RCRPRequest{Base: base(ep, "control room inspector"),
		RcrpDecided: events.RcrpDecided{PoliceAttend: true, Grounds: "real_immediate_risk_to_life", Rationale: "on the outside of the railing"}})
	do[police.ConsultRequest, agency.Receipt](p, events.Police, "s136.consult", police.ConsultRequest{Base: base(ep, pc),
		S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "detain and take to the Medway health-based place of safety"}})
	p.clock.Advance(25 * time.Minute)
	do[police.DetainRequest, agency.Receipt](p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc),
		DetainedAt: p.clock.Now(), LocationType: "public_place", AgeYears: 34})
	do[agency.PlaceRequest, agency.Receipt](p, events.Police, "pos.request", agency.PlaceRequest{Base: base(ep, pc),
		PlaceOfSafetyRequested: events.PlaceOfSafetyRequested{PreferredType: events.HealthBasedPlaceOfSafety}})
	do[spoa.AllocateRequest, agency.Receipt](p, events.SPoA, "pos.allocate", spoa.AllocateRequest{Base: base(ep, "SPoA bed manager"),
		PlaceOfSafetyAllocated: events.PlaceOfSafetyAllocated{PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Medway s136 suite"}})
	p.clock.Advance(35 * time.Minute)
	do[police.ArriveRequest, agency.Receipt](p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc),
		PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{ArrivedAt: p.clock.Now(), PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Medway s136 suite"}})
	return ep
}

// s136Pathway is scenario (b) (and (c) with outcome detained_s2): after the
// AMHP service accepts, the s12 doctor comes, the assessment ends in
// outcome, and when the person is not admitted the helpline follows them
// up for 4 days. mid runs at the points where a restart hurts most.
func s136Pathway(t *testing.T, p *pathway, outcome string, mid func()) string {
	ep := detainedUnderS136(t, p, mid)
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4471 Hughes"),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "detained under s136, at the Medway s136 suite, needs an MHA assessment", Urgency: "emergency"})
	mid()
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Sarah Okafor"), HandoffID: offer.HandoffID})
	p.owner(ep, events.AMHP)
	if n := p.continuity(ep, offer.HandoffID); n < 10 {
		t.Fatalf("the assessment request carried %d facts, want every one of the 10+ recorded", n)
	}

	amhpWorker := "AMHP Sarah Okafor"
	do[amhp.DelayRequest, agency.Receipt](p, events.AMHP, "delay", amhp.DelayRequest{Base: base(ep, amhpWorker),
		AssessmentDelayed: events.AssessmentDelayed{Cause: "s12_doctor_availability", Detail: "no s12 doctor free until 02:00"}})
	p.clock.Advance(2 * time.Hour)
	do[amhp.DoctorRequest, agency.Receipt](p, events.AMHP, "doctor", amhp.DoctorRequest{Base: base(ep, amhpWorker),
		AssessmentDoctorAllocated: events.AssessmentDoctorAllocated{Doctor: "Dr Priya Patel", S12Approved: true, Role: "s12"}})
	if outcome != "not_admitted" {
		// One recommendation is not enough to detain (s2(3), s12(2)).
		refused(p, events.AMHP, "outcome", amhp.OutcomeRequest{Base: base(ep, amhpWorker), Outcome: outcome, CompletedAt: p.clock.Now()},
			403, "two medical recommendations")
		do[amhp.DoctorRequest, agency.Receipt](p, events.AMHP, "doctor", amhp.DoctorRequest{Base: base(ep, amhpWorker),
			AssessmentDoctorAllocated: events.AssessmentDoctorAllocated{Doctor: "Dr Tom Evans (GP)", S12Approved: false, Role: "second_doctor"}})
	}
	p.clock.Advance(90 * time.Minute)
	res := do[amhp.OutcomeRequest, amhp.OutcomeResponse](p, events.AMHP, "outcome", amhp.OutcomeRequest{Base: base(ep, amhpWorker),
		Outcome: outcome, CompletedAt: p.clock.Now(), Notes: assessmentNotes})
	if outcome != "not_admitted" {
		if res.FollowUpHandoff != "" {
			t.Fatalf("a person detained under %s was referred to the helpline (%s)", outcome, res.FollowUpHandoff)
		}
		return ep
	}

	p.acknowledged(ep, res.FollowUpHandoff)
	do[agency.HandoffRequest, agency.Receipt](p, events.Crisisline, "handoff.accept", agency.HandoffRequest{Base: base(ep, "helpline worker Mo"), HandoffID: res.FollowUpHandoff})
	p.owner(ep, events.Crisisline)
	if n := p.continuity(ep, res.FollowUpHandoff); n < 15 {
		t.Fatalf("the follow-up referral carried %d facts, want every one of the 15+ recorded", n)
	}
	for day := 1; day <= crisisline.FollowUpDays; day++ {
		p.clock.Advance(24 * time.Hour)
		do[crisisline.ContactRequest, agency.Receipt](p, events.Crisisline, "followup.contact", crisisline.ContactRequest{Base: base(ep, "helpline worker Mo"),
			FollowupContactAttempted: events.FollowupContactAttempted{ContactNumber: day, Outcome: "spoke", Risk: "low",
				Notes: fmt.Sprintf("day %d: sleeping better, seeing his sister", day)}})
		if day == 2 {
			mid()
		}
	}
	do[crisisline.FinishRequest, agency.Receipt](p, events.Crisisline, "followup.complete", crisisline.FinishRequest{Base: base(ep, "helpline worker Mo"),
		Summary: "four calls made; he has his sister's support and a CMHT appointment", CloseEpisode: true})
	return ep
}

func TestS136DetentionAssessedNotAdmittedFollowedUpForFourDays(t *testing.T) {
	p := start(t)
	ep := s136Pathway(t, p, "not_admitted", func() {})

	v := p.record(ep, func(v episode.View) error {
		if !v.Closed {
			return fmt.Errorf("episode not closed")
		}
		return p.caughtUp(ep)(v)
	})
	if v.Owner != events.Crisisline || v.LegalStatus != "not_admitted" || v.S136 == nil || !v.S136.Ended {
		t.Fatalf("after the follow-up: owner %s, legal status %q, s136 %+v", v.Owner, v.LegalStatus, v.S136)
	}
	if f := v.FollowUp; f == nil || len(f.Scheduled) != 4 || f.Contacts != 4 || !f.Completed {
		t.Fatalf("follow-up = %+v, want 4 calls scheduled, 4 made, completed", v.FollowUp)
	}
	for _, h := range v.Handoffs {
		if h.State != episode.Completed {
			t.Fatalf("handoff %s (%s to %s) is %s, want completed", h.ID, h.Kind, h.To, h.State)
		}
	}
	p.noClinicalInPoliceView(ep, events.AMHP)

	// Two reads at the two handoffs, one police and one AMHP read just now:
	// each is on the record of who saw what. So is each agency service's
	// read of the episode to decide the commands its people gave.
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		disc := do[record.EpisodeRequest, record.DisclosuresResponse](p, events.Record, "disclosures", record.EpisodeRequest{Episode: ep})
		var who []string
		services := map[events.Agency]bool{}
		for _, d := range disc.Disclosures {
			if d.Purpose == record.StatePurpose {
				services[d.Agency] = true
				continue
			}
			who = append(who, string(d.Agency)+":"+d.Viewer)
		}
		want := []string{"amhp:receiving amhp worker", "crisisline:receiving crisisline worker", "police:control room mental health worker", "amhp:clinician"}
		if !slices.Equal(who, want) {
			return fmt.Errorf("disclosures %v, want %v", who, want)
		}
		for _, a := range []events.Agency{events.Police, events.AMHP, events.Crisisline} {
			if !services[a] {
				return fmt.Errorf("no disclosure of the %s service's reads to decide its commands", a)
			}
		}
		return nil
	})
}

// The restart test: every service and the embedded server stop and start
// again twice in the middle of scenario (b), once just after the police
// offer the assessment (before the AMHP inbox has acknowledged it) and once
// during the follow-up. Nothing is lost, nothing is stored twice, and the
// episode ends exactly as it does without the restarts.
func TestS136PathwaySurvivesARestartOfEveryServiceAndTheServer(t *testing.T) {
	straight := start(t)
	want := straight.record(s136Pathway(t, straight, "not_admitted", func() {}), func(v episode.View) error {
		if !v.Closed {
			return fmt.Errorf("not closed")
		}
		return nil
	})

	p := start(t)
	restarts := 0
	ep := s136Pathway(t, p, "not_admitted", func() { p.restart(); restarts++ })
	if restarts != 2 {
		t.Fatalf("restarted %d times, want 2", restarts)
	}
	got := p.record(ep, func(v episode.View) error {
		if !v.Closed {
			return fmt.Errorf("not closed")
		}
		return p.caughtUp(ep)(v)
	})

	stored := p.stored(ep)
	ids := map[string]int{}
	for _, e := range stored {
		ids[e.ID]++
	}
	facts := 0
	for _, e := range stored {
		if episode.OnTimeline(e.Event) {
			facts++
		}
	}
	if len(ids) != len(stored) || len(got.Timeline) != facts || len(got.Timeline) != len(want.Timeline) {
		t.Fatalf("stored %d events (%d distinct ids), %d facts; view has %d, the run without restarts %d",
			len(stored), len(ids), facts, len(got.Timeline), len(want.Timeline))
	}
	if a, b := normalised(want), normalised(got); a != b {
		t.Fatalf("the episode view after restarts differs from the one without:\n--- without\n%s\n--- with restarts\n%s", a, b)
	}
	// The record rebuilt from the stream alone gives the same view again.
	replayed, _, err := record.Load(t.Context(), p.admin, ep)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := normalised(got), normalised(replayed); a != b {
		t.Fatalf("replayed view differs from the projection:\n%s\n---\n%s", a, b)
	}
}

// During the follow-up the person's risk rises: the helpline escalates, and
// SPoA takes the episode on with everything known, the escalation included.
func TestHelplineEscalatesToSPoAWhenRiskRisesDuringFollowUp(t *testing.T) {
	p := start(t)
	ep := detainedUnderS136(t, p, func() {})
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4471 Hughes"),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "s136 assessment", Urgency: "emergency"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Sarah Okafor"), HandoffID: offer.HandoffID})
	do[amhp.DoctorRequest, agency.Receipt](p, events.AMHP, "doctor", amhp.DoctorRequest{Base: base(ep, "AMHP Sarah Okafor"),
		AssessmentDoctorAllocated: events.AssessmentDoctorAllocated{Doctor: "Dr Priya Patel", S12Approved: true, Role: "s12"}})
	res := do[amhp.OutcomeRequest, amhp.OutcomeResponse](p, events.AMHP, "outcome", amhp.OutcomeRequest{Base: base(ep, "AMHP Sarah Okafor"),
		Outcome: "not_admitted", CompletedAt: p.clock.Now(), Notes: assessmentNotes})
	// Sent again (the AMHP's screen timed out): nothing is stored twice.
	again := do[amhp.OutcomeRequest, amhp.OutcomeResponse](p, events.AMHP, "outcome", amhp.OutcomeRequest{Base: base(ep, "AMHP Sarah Okafor"),
		Outcome: "not_admitted", CompletedAt: p.clock.Now(), Notes: assessmentNotes})
	if len(again.Receipt.Events) != 0 || again.FollowUpHandoff != res.FollowUpHandoff {
		t.Fatalf("the repeated outcome stored %v and referred %s (first %s)", again.Receipt.Events, again.FollowUpHandoff, res.FollowUpHandoff)
	}
	p.acknowledged(ep, res.FollowUpHandoff)
	do[agency.HandoffRequest, agency.Receipt](p, events.Crisisline, "handoff.accept", agency.HandoffRequest{Base: base(ep, "helpline worker Mo"), HandoffID: res.FollowUpHandoff})

	p.clock.Advance(24 * time.Hour)
	do[crisisline.ContactRequest, agency.Receipt](p, events.Crisisline, "followup.contact", crisisline.ContactRequest{Base: base(ep, "helpline worker Mo"),
		FollowupContactAttempted: events.FollowupContactAttempted{ContactNumber: 1, Outcome: "spoke", Risk: "high", Notes: "has written notes to his family; sister away"}})
	refused(p, events.Crisisline, "followup.escalate", crisisline.EscalateRequest{Base: base(ep, "helpline worker Mo"), Risk: "low", Reason: "x"}, 400, "escalate when risk has risen")
	esc := do[crisisline.EscalateRequest, crisisline.EscalateResponse](p, events.Crisisline, "followup.escalate", crisisline.EscalateRequest{Base: base(ep, "helpline worker Mo"),
		Risk: "high", Reason: "suicidal plan on the day 1 call; protective factor (sister) away"})
	p.acknowledged(ep, esc.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA clinician Ben"), HandoffID: esc.HandoffID})
	v := p.owner(ep, events.SPoA)
	p.continuity(ep, esc.HandoffID)
	var carried events.HandoffOffered
	for _, e := range p.stored(ep) {
		if e.DecodeInto(&carried) == nil && carried.HandoffID == esc.HandoffID {
			break
		}
	}
	if last := carried.Summary.Facts[len(carried.Summary.Facts)-1]; last.Type != "followup.escalated" {
		t.Fatalf("the referral's last fact is %s, want the escalation", last.Type)
	}
	if v.FollowUp == nil || !v.FollowUp.Escalated {
		t.Fatalf("follow-up = %+v, want escalated", v.FollowUp)
	}
	p.noClinicalInPoliceView(ep, events.SPoA)

	// SPoA owns the episode now, and the helpline still makes the three
	// calls left: both lists say so, and the helpline records call 2.
	if by := v.FollowUpBy(); by != events.Crisisline {
		t.Fatalf("after SPoA took the escalation on, the calls are made by %q, want the helpline", by)
	}
	p.worklistItem(events.Crisisline, ep, func(it record.WorkItem) error {
		if it.FollowUpBy != events.Crisisline || len(it.FollowUpDue) != 3 || it.Owner != events.SPoA {
			return fmt.Errorf("the helpline's list shows %d calls due by %q, owner %q; want 3 by the helpline, owner SPoA", len(it.FollowUpDue), it.FollowUpBy, it.Owner)
		}
		return nil
	})
	p.worklistItem(events.SPoA, ep, func(it record.WorkItem) error {
		if it.FollowUpBy != events.Crisisline {
			return fmt.Errorf("SPoA's card says the calls are made by %q, want the helpline", it.FollowUpBy)
		}
		return nil
	})
	p.clock.Advance(24 * time.Hour)
	do[crisisline.ContactRequest, agency.Receipt](p, events.Crisisline, "followup.contact", crisisline.ContactRequest{Base: base(ep, "helpline worker Mo"),
		FollowupContactAttempted: events.FollowupContactAttempted{ContactNumber: 2, Outcome: "spoke", Risk: "medium", Notes: "crisis team visited last night"}})
	p.worklistItem(events.Crisisline, ep, func(it record.WorkItem) error {
		if len(it.FollowUpDue) != 2 {
			return fmt.Errorf("the helpline's list shows %d calls due after call 2, want 2", len(it.FollowUpDue))
		}
		return nil
	})
	// Once the helpline completes the follow-up, it is off the helpline's
	// list and stays SPoA's.
	do[crisisline.FinishRequest, agency.Receipt](p, events.Crisisline, "followup.complete", crisisline.FinishRequest{Base: base(ep, "helpline worker Mo"),
		Summary: "Calls 3 and 4 not needed: the crisis team is seeing him daily"})
	p.notOnWorklist(events.Crisisline, ep)
	p.worklistItem(events.SPoA, ep, func(it record.WorkItem) error {
		if it.FollowUpBy != "" || len(it.FollowUpDue) != 0 {
			return fmt.Errorf("SPoA's card still shows follow-up calls by %q: %v", it.FollowUpBy, it.FollowUpDue)
		}
		return nil
	})
}

// worklistItem waits until agency a's worklist, as the record serves it,
// lists episode ep with an item satisfying cond.
func (p *pathway) worklistItem(a events.Agency, ep string, cond func(record.WorkItem) error) {
	p.t.Helper()
	bustest.CheckFor(p.t, 10*time.Second, 20*time.Millisecond, func() error {
		l, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](context.Background(), p.admin.Conn(), record.WorklistSubject(a),
			record.WorklistRequest{Viewer: "test", Purpose: "direct care: checking the worklist"})
		if err != nil {
			return err
		}
		for _, it := range l.Items {
			if it.Episode == ep {
				return cond(it)
			}
		}
		return fmt.Errorf("%s's worklist does not list episode %s", a.Title(), ep)
	})
}

// notOnWorklist waits until agency a's worklist no longer lists ep.
func (p *pathway) notOnWorklist(a events.Agency, ep string) {
	p.t.Helper()
	bustest.CheckFor(p.t, 10*time.Second, 20*time.Millisecond, func() error {
		l, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](context.Background(), p.admin.Conn(), record.WorklistSubject(a),
			record.WorklistRequest{Viewer: "test", Purpose: "direct care: checking the worklist"})
		if err != nil {
			return err
		}
		for _, it := range l.Items {
			if it.Episode == ep {
				return fmt.Errorf("%s's worklist still lists episode %s", a.Title(), ep)
			}
		}
		return nil
	})
}

// The AMHP concludes "not admitted": the case leaves the AMHP's queue, as it
// now waits for the helpline; if the helpline declines the follow-up, it is
// back in the AMHP's queue to offer again, so nobody drops it.
func TestNotAdmittedLeavesTheAMHPQueueUnlessTheHelplineDeclines(t *testing.T) {
	p := start(t)
	ep := detainedUnderS136(t, p, func() {})
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4471 Hughes"),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "s136 assessment", Urgency: "emergency"})
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Sarah Okafor"), HandoffID: offer.HandoffID})
	p.worklistItem(events.AMHP, ep, func(record.WorkItem) error { return nil })
	res := do[amhp.OutcomeRequest, amhp.OutcomeResponse](p, events.AMHP, "outcome", amhp.OutcomeRequest{Base: base(ep, "AMHP Sarah Okafor"),
		Outcome: "not_admitted", CompletedAt: p.clock.Now(), Notes: assessmentNotes})
	p.notOnWorklist(events.AMHP, ep)
	p.worklistItem(events.Crisisline, ep, func(it record.WorkItem) error {
		if len(it.Offers) != 1 {
			return fmt.Errorf("the helpline's list holds %d offers, want the follow-up", len(it.Offers))
		}
		return nil
	})
	do[agency.DeclineRequest, agency.Receipt](p, events.Crisisline, "handoff.decline", agency.DeclineRequest{
		HandoffRequest: agency.HandoffRequest{Base: base(ep, "helpline worker Mo"), HandoffID: res.FollowUpHandoff},
		Reason:         "no_capacity", Detail: "no caller free for 4 days; please ask the crisis team"})
	p.worklistItem(events.AMHP, ep, func(it record.WorkItem) error {
		if it.Owner != events.AMHP {
			return fmt.Errorf("the AMHP's list shows the owner %q", it.Owner)
		}
		return nil
	})
}
