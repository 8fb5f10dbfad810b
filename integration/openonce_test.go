package integration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/safehaven"
)

// At 2 a.m. a control room's dispatch system opens an episode for a 999
// call and the answer never reaches it (the connection drops as the reply
// is sent); it sends the same open again, and a call handler's browser
// sends the form twice. One person, one episode: every answer names the
// episode the first open made, the repeats record nothing, and the person
// is not split across two records that nobody joins up.
func TestAnOpenSentAgainOpensOneEpisode(t *testing.T) {
	p := start(t)
	ctx := context.Background()
	open := agency.OpenRequest{Request: "cad-20261120-0231", Actor: "call handler 4471", Channel: "999",
		Summary: "woman on the Medway bridge parapet, says she wants to die", Reference: "CAD 0231",
		Person: &events.PersonIdentified{GivenName: "Amy"},
		Triage: &events.TriageRequested{CallerAccount: "Passer-by says she is on the wrong side of the parapet", Concern: "Is she known? Who should attend?"}}

	first := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", open)
	if first.Repeated || len(first.Receipt.Events) != 3 {
		t.Fatalf("the first open: repeated %v, %d facts recorded; want a new episode with its opening, who she is and the triage request", first.Repeated, len(first.Receipt.Events))
	}
	again := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", open)
	if again.Episode != first.Episode || !again.Repeated || len(again.Receipt.Events) != 0 {
		t.Fatalf("the open sent again answered episode %s (repeated %v, %d facts recorded); want %s, repeated, nothing recorded",
			again.Episode, again.Repeated, len(again.Receipt.Events), first.Episode)
	}

	// The form sent twice at once: both answers name one new episode.
	twice := open
	twice.Request = "form-7f3c2a"
	var wg sync.WaitGroup
	answers := make([]agency.OpenResponse, 2)
	errs := make([]error, 2)
	for i := range answers {
		wg.Go(func() {
			answers[i], errs[i] = rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, p.admin.Conn(), agency.Subject(events.Police, "open"), twice)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if answers[0].Episode != answers[1].Episode || answers[0].Repeated == answers[1].Repeated {
		t.Fatalf("the form sent twice at once answered %+v and %+v; want one episode, opened once", answers[0], answers[1])
	}
	for _, ep := range []string{first.Episode, answers[0].Episode} {
		for _, fact := range []string{"episode.opened", "triage.requested"} {
			if n := countType(p.stored(ep), fact); n != 1 {
				t.Errorf("episode %s holds %d %s in the stream, want one", ep, n, fact)
			}
		}
	}

	// A safe haven's walk-in sent twice: one episode, one arrival.
	walkIn := safehaven.WalkInRequest{Request: "door-0112", Actor: "haven worker 12", Haven: "haven-margate",
		Summary: "came in from the rain, frightened, hearing voices", AgeYears: 27}
	w1 := do[safehaven.WalkInRequest, agency.OpenResponse](p, events.SafeHaven, "walkin", walkIn)
	w2 := do[safehaven.WalkInRequest, agency.OpenResponse](p, events.SafeHaven, "walkin", walkIn)
	if w2.Episode != w1.Episode || !w2.Repeated {
		t.Fatalf("the walk-in sent again answered %+v; want episode %s, repeated", w2, w1.Episode)
	}
	if n := countType(p.stored(w1.Episode), "haven.arrived"); n != 1 {
		t.Errorf("the person arrived %d times, want once", n)
	}

	// Another agency's request of the same id is its own episode.
	amb := do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", agency.OpenRequest{
		Request: open.Request, Actor: "EOC clinician 9", Channel: "999", Summary: "caller's son threatening to end his life"})
	if amb.Episode == first.Episode || amb.Repeated {
		t.Fatalf("the ambulance service's open with the police's request id answered %+v; want an episode of its own", amb)
	}
}

// Police, knowing the id an ambulance dispatch system will give its next
// open (a request id is not a secret the way a password is), store an
// episode.opened of their own on the episode that id names, so that the
// ambulance service's open would answer with the police's episode as if it
// were its own. The ambulance service refuses it and says what to do; an
// id that could never be one is refused naming the field.
func TestAnOpenIsNeverAnsweredWithAnotherAgencysEpisode(t *testing.T) {
	p := start(t)
	request := "eoc-incident-5521"
	ep := agency.RequestedEpisode(events.Ambulance, request)
	planted, err := events.New(events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "planted"}, events.At(p.clock.Now()), events.By("PC 1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := events.Encode(planted)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := events.Subject(planted)
	p.raw(events.Police, subject, raw)

	open := agency.OpenRequest{Request: request, Actor: "EOC clinician 9", Channel: "999", Summary: "man collapsed after an overdose"}
	refused(p, events.Ambulance, "open", open, 409, "send the open again with a new request id")
	open.Request = "eoc-incident-5521-2"
	if got := do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", open); got.Repeated || got.Episode == ep {
		t.Fatalf("the open with a new request id answered %+v; want a new episode", got)
	}

	open.Request = "incident.*"
	_, err = rpc.Call[agency.OpenRequest, agency.OpenResponse](context.Background(), p.admin.Conn(), agency.Subject(events.Ambulance, "open"), open)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != 400 || !strings.Contains(re.Message, "request") {
		t.Fatalf("an open with request id %q: %v; want 400 naming the request", open.Request, err)
	}
}

// countType counts the facts of a type ("episode.opened") among es.
func countType(es []storedEvent, name string) int {
	n := 0
	for _, e := range es {
		if spec, ok := events.Lookup(e.Type); ok && spec.Name == name {
			n++
		}
	}
	return n
}

// An open carrying a fact its agency may not record (the trust's single
// point of access with an ambulance call triage) is refused whole, in
// words: no episode is opened without what was asked with it.
func TestAnOpenWithAFactItsAgencyMayNotRecordOpensNothing(t *testing.T) {
	p := start(t)
	open := agency.OpenRequest{Request: "spoa-ref-88", Actor: "SPoA practitioner 3", Channel: "referral", Summary: "GP referral, low mood",
		Call: &events.AmbulanceCallTriaged{Response: "hear_and_treat", MentalHealthWorkerInvolved: true}}
	_, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](context.Background(), p.admin.Conn(), agency.Subject(events.SPoA, "open"), open)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != 403 || !strings.Contains(re.Message, "spoa may not publish ambulance.call_triaged") {
		t.Fatalf("SPoA's open with an ambulance call triage: %v; want refused (403) naming the fact", err)
	}
	if got := p.stored(agency.RequestedEpisode(events.SPoA, open.Request)); len(got) != 0 {
		t.Fatalf("the refused open stored %d facts, want none", len(got))
	}
}
