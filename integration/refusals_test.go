package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// What the law forbids is refused with 403 and the section of the Act.
func TestCommandsRefuseWhatTheMentalHealthActForbids(t *testing.T) {
	p := start(t)
	pc := "PC 4471 Hughes"
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler", Channel: "999", Summary: "man shouting in his garden that he will kill himself",
		Person: &events.PersonIdentified{GivenName: "Alan", FamilyName: "Price", AgeYears: 45}}).Episode

	refused(p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc), DetainedAt: p.clock.Now(), LocationType: "private_dwelling_garden", AgeYears: 45},
		403, "s136(1): s136 may not be used in a private dwelling")
	refused(p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc), DetainedAt: p.clock.Now(), LocationType: "public_place", AgeYears: 45},
		403, "s136(1C)")
	do[police.ConsultRequest, agency.Receipt](p, events.Police, "s136.consult", police.ConsultRequest{Base: base(ep, pc),
		S136Consulted: events.S136Consulted{Practicable: false, Advice: "no professional reachable; he had walked into the street"}})
	do[police.DetainRequest, agency.Receipt](p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc), DetainedAt: p.clock.Now(), LocationType: "public_place", AgeYears: 45})

	station := events.PlaceOfSafetyArrived{ArrivedAt: p.clock.Now(), PlaceType: events.PoliceStation, PlaceName: "Maidstone police station"}
	refused(p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: station}, 403, "Places of Safety Regulations 2017")
	station.PoliceStation = &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: false, InspectorAuthorisation: "Insp. Cole"}
	refused(p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: station}, 403,
		"not recorded: no other place of safety can reasonably be expected to detain the person; a health professional consulted where practicable")
	station.PoliceStation.NoOtherPlaceAvailable, station.PoliceStation.HealthProfessionalConsulted = true, true
	refused(p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: station}, 400,
		"policeStation.reason is required when a police station is used: no_health_based_place_free (no health-based place of safety free) or violence_cannot_be_managed")
	station.PoliceStation.Reason = events.ViolenceCannotBeManaged
	do[police.ArriveRequest, agency.Receipt](p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: station})
	// Nobody had said the adult suites were full: the record says a cell
	// was used while they had room (where he was is not a town of the
	// directory: in the order of their names).
	v := p.record(ep, p.caughtUp(ep))
	if v.S136 == nil || v.S136.PoliceStation == nil || v.S136.PoliceStation.Reason != events.ViolenceCannotBeManaged ||
		!slices.Equal(v.S136.PoliceStation.PlacesWithRoom, []string{"Canterbury s136 suite (adults)", "Dartford s136 suite (adults)", "Maidstone s136 suite (adults)"}) {
		t.Fatalf("the record of the police station: %+v", *v.S136.PoliceStation)
	}
	if last := v.Timeline[len(v.Timeline)-1].Text; !strings.Contains(last, "a police station because: violence cannot be managed; health-based places of safety had room then: Canterbury s136 suite (adults), Dartford") {
		t.Fatalf("the timeline says %q", last)
	}

	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "assessment in custody", Urgency: "emergency"})
	refused(p, events.AMHP, "doctor", amhp.DoctorRequest{Base: base(ep, "AMHP Jo"), AssessmentDoctorAllocated: events.AssessmentDoctorAllocated{
		Doctor: "Dr Lee", S12Approved: true, Role: "s12"}}, 409, "accept the mha_assessment handoff first")
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Jo"), HandoffID: offer.HandoffID})
	refused(p, events.AMHP, "doctor", amhp.DoctorRequest{Base: base(ep, "AMHP Jo"), AssessmentDoctorAllocated: events.AssessmentDoctorAllocated{
		Doctor: "Dr Hart", S12Approved: false, Role: "s12"}}, 403, "s12(2)")
	do[amhp.DoctorRequest, agency.Receipt](p, events.AMHP, "doctor", amhp.DoctorRequest{Base: base(ep, "AMHP Jo"), AssessmentDoctorAllocated: events.AssessmentDoctorAllocated{
		Doctor: "Dr Lee", S12Approved: true, Role: "s12"}})

	p.clock.Advance(20 * time.Hour)
	ext := amhp.ExtendRequest{Base: base(ep, "AMHP Jo"), Hours: 13, Doctor: "Dr Lee", Reason: "too intoxicated to assess", SuperintendentApproval: "Supt. Grant"}
	refused(p, events.AMHP, "s136.extend", ext, 403, "s136B: an extension is for at most 12 hours (asked for 13h0m0s)")
	ext.Hours, ext.Doctor = 6, "Dr Someone Else"
	refused(p, events.AMHP, "s136.extend", ext, 403, "only the registered medical practitioner responsible for the person's examination may extend")
	ext.Doctor, ext.SuperintendentApproval = "Dr Lee", ""
	refused(p, events.AMHP, "s136.extend", ext, 403, "s136B: when the person is held at a police station, an extension needs the approval of an officer of the rank of superintendent")
	p.clock.Advance(4*time.Hour + time.Minute)
	ext.SuperintendentApproval = "Supt. Grant"
	refused(p, events.AMHP, "s136.extend", ext, 403, "expired")
	p.clock.Advance(-2 * time.Hour)
	do[amhp.ExtendRequest, agency.Receipt](p, events.AMHP, "s136.extend", ext)
	refused(p, events.AMHP, "s136.extend", ext, 403, "may be extended only once")
	v = p.record(ep, p.caughtUp(ep))
	if len(v.S136.Extensions) != 1 || v.S136.Extensions[0].Hours != 6 {
		t.Fatalf("extensions = %+v, want the one of 6 hours", v.S136.Extensions)
	}
}

// What the episode's state forbids is refused with 409 (404 for what does
// not exist, 400 for a malformed request), and a raw publish that breaks
// the protocol is kept visible by the record but never applied.
func TestCommandsRefuseWhatTheEpisodeStateForbids(t *testing.T) {
	p := start(t)
	pc := "PC 2209 Lowe"
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler", Channel: "101", Summary: "woman in distress at the bus station"}).Episode

	// Offers to two agencies at once: the first to accept takes the episode;
	// the second acceptance would make a second owner and is refused.
	toSPoA := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.SPoAReferral, To: events.SPoA, Reason: "needs the crisis team", Urgency: "urgent"})
	toAMHP := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "may need an assessment", Urgency: "urgent"})
	refused(p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.SPoAReferral, To: events.SPoA, Reason: "again", Urgency: "urgent"}, 409, "already exists")
	refused(p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA Ben"), HandoffID: toAMHP.HandoffID}, 409, "offered to AMHP service, not Single point of access")
	do[agency.HandoffRequest, agency.Receipt](p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA Ben"), HandoffID: toSPoA.HandoffID})
	refused(p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Jo"), HandoffID: toAMHP.HandoffID}, 409,
		"would make a second owner: Police control room offered it but Single point of access owns the episode now")
	refused(p, events.Police, "handoff.cancel", agency.CancelRequest{HandoffRequest: agency.HandoffRequest{Base: base(ep, pc), HandoffID: toSPoA.HandoffID},
		Reason: "changed our mind"}, 409, "already accepted by Single point of access")
	refused(p, events.Police, "close", agency.CloseRequest{Base: base(ep, pc), Reason: "done"}, 409, "Single point of access owns it, not Police control room")
	refused(p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.TriageAdvice, To: events.Ambulance, Reason: "x", Urgency: "routine"}, 409, "only the owner offers a handoff")

	// A cancelled offer cannot be accepted.
	do[agency.CancelRequest, agency.Receipt](p, events.Police, "handoff.cancel", agency.CancelRequest{HandoffRequest: agency.HandoffRequest{Base: base(ep, pc), HandoffID: toAMHP.HandoffID},
		Reason: "SPoA has taken her on"})
	refused(p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Jo"), HandoffID: toAMHP.HandoffID}, 409, "handoff was cancelled by Police control room (SPoA has taken her on)")

	// The owner may not close with an offer pending.
	back := do[agency.OfferRequest, agency.OfferResponse](p, events.SPoA, "handoff.offer", agency.OfferRequest{Base: base(ep, "SPoA Ben"),
		Kind: events.FollowUp, To: events.Crisisline, Reason: "follow-up calls", Urgency: "routine"})
	refused(p, events.SPoA, "close", agency.CloseRequest{Base: base(ep, "SPoA Ben"), Reason: "done"}, 409, "open handoffs")

	// Bad and unknown input.
	refused(p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, ""), HandoffID: back.HandoffID}, 400, "actor is required")
	refused(p, events.Police, "open", map[string]any{"actor": "x", "channel": "999", "summary": "s", "colour": "red"}, 400, `unknown field "colour"`)
	refused(p, events.Police, "open", agency.OpenRequest{Actor: "x", Channel: "pigeon", Summary: "s"}, 400, "/data/channel")
	refused(p, events.Police, "triage.request", police.TriageRequest{Base: base(events.NewEpisodeID(), pc),
		TriageRequested: events.TriageRequested{CallerAccount: "c", Concern: "c"}}, 404, "unknown episode")
	refused(p, events.Crisisline, "handoff.accept", agency.HandoffRequest{Base: base(ep, "Mo"), HandoffID: events.NewEpisodeID()}, 404, "unknown handoff")

	// An acceptance published straight onto the bus, past the commands, that
	// would make a second owner: the record keeps it visible and applies nothing.
	raw, err := p.sys.Connect(events.Crisisline)
	if err != nil {
		t.Fatal(err)
	}
	do[agency.CancelRequest, agency.Receipt](p, events.SPoA, "handoff.cancel", agency.CancelRequest{HandoffRequest: agency.HandoffRequest{Base: base(ep, "SPoA Ben"), HandoffID: back.HandoffID},
		Reason: "not needed"})
	bad, _, err := raw.Emit(context.Background(), ep, &events.HandoffAccepted{HandoffID: back.HandoffID, AcceptedBy: "someone"}, events.To(events.SPoA))
	if err != nil {
		t.Fatal(err)
	}
	v := p.record(ep, func(v episode.View) error {
		if len(v.Conflicts) != 1 || !strings.HasPrefix(v.Conflicts[0], bad.ID) {
			return fmt.Errorf("conflicts = %v, want the raw acceptance %s", v.Conflicts, bad.ID)
		}
		return nil
	})
	if v.Owner != events.SPoA || v.Handoff(back.HandoffID).State != episode.Cancelled {
		t.Fatalf("owner %s, handoff %+v: a refused event changed the episode", v.Owner, v.Handoff(back.HandoffID))
	}
	var re *rpc.Error
	if _, err := rpc.Call[record.ViewRequest, record.ViewResponse](context.Background(), p.admin.Conn(), record.ViewSubject(events.Police),
		record.ViewRequest{Episode: ep, Viewer: "PC"}); !errors.As(err, &re) || re.Code != 400 || !strings.Contains(re.Message, "purpose is required") {
		t.Fatalf("a view without a purpose: %v, want 400 purpose is required", err)
	}
	refused(p, events.Record, "police.view", record.ViewRequest{Episode: ep, Agency: events.AMHP, Viewer: "PC", Purpose: "curious"}, 400, "this is the police view")
}
