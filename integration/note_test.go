package integration

import (
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
)

// The note of what happens next is given by the agency holding the
// episode, which knows what was agreed: the control room, once the AMHP
// service has accepted the episode, is refused; a wording the contract
// does not know is refused naming it; the AMHP service's note is stored.
func TestOnlyTheAgencyHoldingTheEpisodeGivesThePersonTheNote(t *testing.T) {
	p := start(t)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler", Channel: "999", Summary: "woman on the bridge", Person: &events.PersonIdentified{GivenName: "Ana"}}).Episode
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4471 Hughes"),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "assessment", Urgency: "emergency"})
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Jo"), HandoffID: offer.HandoffID})

	note := events.PersonNoteGiven{Format: "easy_read", How: "read_out", WhoWillCall: "The helpline will phone you tomorrow"}
	refused(p, events.Police, "note", agency.NoteRequest{Base: base(ep, "PC 4471 Hughes"), PersonNoteGiven: note}, 409,
		"only the agency holding the episode gives the person a note of what happens next; AMHP service holds")
	refused(p, events.AMHP, "note", agency.NoteRequest{Base: base(ep, "AMHP Jo"), PersonNoteGiven: events.PersonNoteGiven{Format: "large_print", How: "read_out"}}, 400,
		"format")
	if r := do[agency.NoteRequest, agency.Receipt](p, events.AMHP, "note", agency.NoteRequest{Base: base(ep, "AMHP Jo"), PersonNoteGiven: note}); len(r.Events) != 1 {
		t.Fatalf("the AMHP service's note stored %d events, want 1", len(r.Events))
	}
}
