package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// placesFor asks the record, as agency a, where a person can go, until
// check is content with the answer (the record applies a provider's update
// a moment after it is stored).
func (p *pathway) placesFor(a events.Agency, req record.PlacesRequest, check func(record.PlacesResponse) error) record.PlacesResponse {
	p.t.Helper()
	var resp record.PlacesResponse
	bustest.CheckFor(p.t, 10*time.Second, 20*time.Millisecond, func() error {
		var err error
		resp, err = rpc.Call[record.PlacesRequest, record.PlacesResponse](context.Background(), p.admin.Conn(), record.PlacesSubject(a), req)
		if err != nil {
			return err
		}
		return check(resp)
	})
	return resp
}

func option(resp record.PlacesResponse, id string) (places.Option, error) {
	for _, o := range resp.Options {
		if o.Place.ID == id {
			return o, nil
		}
	}
	return places.Option{}, fmt.Errorf("%s is not among the %d options", id, len(resp.Options))
}

func count(n int) *int { return &n }

// Each provider updates only its own places: the trust its places of
// safety, the safe haven service its havens; anything else is refused
// naming who does, and a count the place cannot hold is refused.
func TestProvidersUpdateOnlyTheirOwnPlaces(t *testing.T) {
	p := start(t)
	p.clock.set(19, 0)
	got := do[agency.PlaceUpdateRequest, agency.PlaceReceipt](p, events.SafeHaven, "place.update", agency.PlaceUpdateRequest{Actor: havenWorker,
		PlaceUpdated: events.PlaceUpdated{Place: "haven-canterbury", Free: count(4)}})
	if got.Subject != places.Subject("haven-canterbury") || got.Event == "" || got.Sequence == 0 {
		t.Fatalf("the receipt: %+v", got)
	}
	refused(p, events.SafeHaven, "place.update", agency.PlaceUpdateRequest{Actor: havenWorker,
		PlaceUpdated: events.PlaceUpdated{Place: "pos-dartford-children", Free: count(2)}}, 403,
		"the Safe haven does not provide Dartford s136 suite for children and young people (pos-dartford-children); it is updated by Single point of access")
	refused(p, events.Police, "place.update", agency.PlaceUpdateRequest{Actor: "PC 4410 Okafor",
		PlaceUpdated: events.PlaceUpdated{Place: "haven-margate", Closed: true, Reason: "flooded"}}, 403, "it is updated by Safe haven")
	refused(p, events.SPoA, "place.update", agency.PlaceUpdateRequest{Actor: "Morgan Lee",
		PlaceUpdated: events.PlaceUpdated{Place: "pos-dartford-children", Free: count(5)}}, 400, "free is 5, but Dartford s136 suite for children and young people has 2 places")
	refused(p, events.SafeHaven, "place.update", agency.PlaceUpdateRequest{PlaceUpdated: events.PlaceUpdated{Place: "haven-margate"}}, 400, "actor is required")
}

// Friday 21:00. The trust has said the Dartford children's suite holds a
// child. A second child, 15, is detained under s136 on Gravesend station:
// the control room asks where she can go, and is shown that the suite has
// no room (one child is there, and then its other bed cannot be used),
// who said so, and where there is room for her now: a children's liaison
// service still open. A police station is refused by law.
func TestASecondChildDetainedWhileTheDartfordSuiteHoldsOneIsShownWhereThereIsRoom(t *testing.T) {
	p := start(t)
	p.clock.set(20, 30)
	do[agency.PlaceUpdateRequest, agency.PlaceReceipt](p, events.SPoA, "place.update", agency.PlaceUpdateRequest{Actor: "Nurse in charge, Dartford suite",
		PlaceUpdated: events.PlaceUpdated{Place: "pos-dartford-children", Free: count(1)}})
	p.clock.set(21, 0)
	const pc = "PC 2207 Shah"
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{Actor: pc, Channel: "999",
		Summary: "girl on the footbridge at Gravesend station", Location: "Gravesend station footbridge",
		Person: &events.PersonIdentified{KnownAs: "Leah", AgeYears: 15}}).Episode
	do[police.ConsultRequest, agency.Receipt](p, events.Police, "s136.consult", police.ConsultRequest{Base: base(ep, pc),
		S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "a children's place of safety"}})
	do[police.DetainRequest, agency.Receipt](p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc),
		DetainedAt: p.clock.Now(), LocationType: "transport", AgeYears: 15})

	resp := p.placesFor(events.Police, record.PlacesRequest{Town: "Gravesend", Age: count(15), Referred: true}, func(r record.PlacesResponse) error {
		o, err := option(r, "pos-dartford-children")
		if err == nil && o.Usable {
			err = fmt.Errorf("the children's suite is shown with room: %+v", o)
		}
		return err
	})
	suite, _ := option(resp, "pos-dartford-children")
	if len(suite.Why) != 1 || !strings.Contains(suite.Why[0], "no room: someone is placed there already, and once one person is, its other places cannot be used (1 of 2 free, said today 20:30 by Nurse in charge, Dartford suite)") {
		t.Fatalf("the children's suite is shown %q", suite.Why)
	}
	if !resp.Options[0].Usable || !resp.Options[0].Place.ForAge(15) {
		t.Fatalf("the first option is not one that can take her now: %+v", resp.Options[0])
	}
	var childrensLiaison bool
	for _, o := range resp.Options {
		if o.Usable && o.Place.Kind == places.LiaisonPsychiatry && o.Place.MaxAge != nil {
			childrensLiaison = true
		}
		if o.Usable && !o.Place.ForAge(15) {
			t.Errorf("%s is offered for a 15-year-old", o.Place.Name)
		}
	}
	if !childrensLiaison {
		t.Fatal("no children's liaison service is shown with room at 21:00")
	}
	refused(p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{ArrivedAt: p.clock.Now(),
		PlaceType: events.PoliceStation, PlaceName: "Gravesend police station", PoliceStation: &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true,
			NoOtherPlaceAvailable: true, InspectorAuthorisation: "Insp. Cole", HealthProfessionalConsulted: true, Reason: events.NoHealthBasedPlaceFree}}},
		403, "s136A(1)")
}

// Friday 19:00. The Gillingham haven's worker marks it full. SPoA, routing
// a man in Gillingham to a safe haven, sees Gillingham full with who said
// so and when, and the nearest haven with room first; when the worker says
// places are free again, SPoA sees it too.
func TestAHavenItsProviderMarksFullIsShownFullToSPoAWithWhoSaidSo(t *testing.T) {
	p := start(t)
	p.clock.set(19, 0)
	do[agency.PlaceUpdateRequest, agency.PlaceReceipt](p, events.SafeHaven, "place.update", agency.PlaceUpdateRequest{Actor: havenWorker,
		PlaceUpdated: events.PlaceUpdated{Place: "haven-gillingham", Free: count(0)}})
	p.clock.set(19, 20)
	ask := record.PlacesRequest{Town: "Gillingham", Age: count(40), Kinds: []places.Kind{places.SafeHaven}}
	resp := p.placesFor(events.SPoA, ask, func(r record.PlacesResponse) error {
		o, err := option(r, "haven-gillingham")
		if err == nil && o.Usable {
			err = fmt.Errorf("the Gillingham haven is shown with room")
		}
		return err
	})
	g, _ := option(resp, "haven-gillingham")
	if g.Free != 0 || len(g.Why) != 1 || g.Why[0] != "no room: 0 of 6 free, said today 19:00 by "+havenWorker {
		t.Fatalf("the Gillingham haven is shown %q (free %d)", g.Why, g.Free)
	}
	if first := resp.Options[0]; !first.Usable || first.Place.ID != "haven-maidstone" {
		t.Fatalf("the first haven shown is %s (usable %v), want Maidstone, the nearest with room", first.Place.ID, first.Usable)
	}
	do[agency.PlaceUpdateRequest, agency.PlaceReceipt](p, events.SafeHaven, "place.update", agency.PlaceUpdateRequest{Actor: havenWorker,
		PlaceUpdated: events.PlaceUpdated{Place: "haven-gillingham", Free: count(2)}})
	p.placesFor(events.SPoA, ask, func(r record.PlacesResponse) error {
		if r.Options[0].Place.ID != "haven-gillingham" || !r.Options[0].Usable || r.Options[0].Free != 2 {
			return fmt.Errorf("after places were freed the first haven is %s, usable %v", r.Options[0].Place.ID, r.Options[0].Usable)
		}
		return nil
	})
}

// The Thanet haven is open by its hours, but its worker has said it is
// full. A referral from SPoA for someone in Margate waits for the haven's
// people: the Canterbury haven, 25 km away, has room, so nobody is turned
// away for one full haven. Once the worker says Canterbury is full too, a
// referral is declined at once as having no room, naming both in the
// worker's words, and SPoA keeps the episode; once Thanet has places free
// again a referral waits for the haven's people.
func TestAReferralToAHavenItsProviderMarksFullIsDeclinedWithWhoSaidSo(t *testing.T) {
	p := start(t)
	p.clock.set(19, 0)
	full := func(haven string, free int) {
		t.Helper()
		do[agency.PlaceUpdateRequest, agency.PlaceReceipt](p, events.SafeHaven, "place.update", agency.PlaceUpdateRequest{Actor: havenWorker,
			PlaceUpdated: events.PlaceUpdated{Place: haven, Free: count(free)}})
		ask := record.PlacesRequest{Town: "Margate", Kinds: []places.Kind{places.SafeHaven}}
		p.placesFor(events.SPoA, ask, func(r record.PlacesResponse) error {
			if o, err := option(r, haven); err != nil || o.Usable != (free > 0) {
				return fmt.Errorf("the record does not yet know %s has %d free: %v", haven, free, err)
			}
			return nil
		})
	}
	refer := func() (string, string) {
		t.Helper()
		ep := do[agency.OpenRequest, agency.OpenResponse](p, events.SPoA, "open", agency.OpenRequest{Actor: "SPoA nurse Ola", Channel: "referral",
			Summary: "wants somewhere to go tonight", Location: "Margate, near the harbour"}).Episode
		offer := do[agency.OfferRequest, agency.OfferResponse](p, events.SPoA, "handoff.offer", agency.OfferRequest{Base: base(ep, "SPoA nurse Ola"),
			Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "would benefit from the haven tonight", Urgency: "urgent"})
		return ep, offer.HandoffID
	}
	waits := func() {
		t.Helper()
		ep, id := refer()
		p.record(ep, func(v episode.View) error {
			if h := v.Handoff(id); h == nil || h.State != episode.Acknowledged {
				return fmt.Errorf("handoff %+v, want acknowledged and waiting for the haven's people", h)
			}
			return nil
		})
	}
	full("haven-margate", 0)
	p.clock.set(19, 20)
	waits()

	full("haven-canterbury", 0)
	ep, id := refer()
	v := p.record(ep, func(v episode.View) error {
		if h := v.Handoff(id); h == nil || h.State != episode.Declined {
			return fmt.Errorf("handoff %+v, want declined by the haven's inbox", h)
		}
		return nil
	})
	want := "Thanet Safe Haven (Margate): no room: 0 of 6 free, said today 19:00 by " + havenWorker +
		". Canterbury Safe Haven (Canterbury): no room: 0 of 6 free, said today 19:20 by " + havenWorker
	if h := v.Handoff(id); h.DeclineReason != "no_capacity" || h.DeclineDetail != want {
		t.Fatalf("declined with %q: %q, want %q", h.DeclineReason, h.DeclineDetail, want)
	}
	p.owner(ep, events.SPoA)

	full("haven-margate", 3)
	waits()
}
