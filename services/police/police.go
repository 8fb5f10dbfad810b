// Package police is the police force control room's service: the call
// taker, the control-room mental health worker and the officers on the
// ground record their facts and decisions here, and hand the episode on.
//
// Commands (NATS request-reply, JSON), on crisisbus.police.<command>, besides
// the common ones of package agency (open, identify, voice, link, close,
// handoff.*):
//
//	triage.request         TriageRequest                → agency.Receipt
//	triage.advice          agency.AdviceRequest         → agency.Receipt
//	rcrp.decide            RCRPRequest                  → agency.Receipt
//	street_triage.dispatch DispatchRequest              → agency.Receipt
//	street_triage.outcome  agency.StreetOutcomeRequest  → agency.Receipt
//	s136.consult           ConsultRequest               → agency.Receipt
//	s136.detain            DetainRequest                → agency.Receipt
//	pos.request            agency.PlaceRequest          → agency.Receipt
//	pos.arrive             ArriveRequest                → agency.Receipt
//	s136.welfare           WelfareRequest               → agency.Receipt
//	s136.release           ReleaseRequest               → agency.Receipt
//
// Police never record clinical text: every command refuses a field the
// contract marks for health agencies only (schemas.AudienceKeyword), with a
// 400 naming the field and where it is recorded instead. The control-room
// mental health worker and the street triage nurse are the mental health
// trust's staff: their health history and notes go to the trust's commands
// (crisisbus.spoa.triage.advice, crisisbus.spoa.street_triage.outcome), and
// the call handler still sees the advice itself in the police view.
package police

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// TriageRequest: the control room asks its mental health worker for advice.
type TriageRequest struct {
	agency.Base
	events.TriageRequested
}

// RCRPRequest: the Right Care, Right Person decision.
type RCRPRequest struct {
	agency.Base
	events.RcrpDecided
}

// DispatchRequest: street triage (an officer and a nurse) is sent.
type DispatchRequest struct {
	agency.Base
	events.StreetTriageDispatched
}

// ConsultRequest: the consultation before an s136 decision (s136(1C)).
type ConsultRequest struct {
	agency.Base
	events.S136Consulted
}

// DetainRequest: an s136 detention. Consulted is taken from the recorded
// consultation, which must come first.
type DetainRequest struct {
	agency.Base
	DetainedAt       time.Time `json:"detainedAt" schema:"v1/s136.detained.json#/properties/detainedAt"`
	LocationType     string    `json:"locationType" schema:"v1/s136.detained.json#/properties/locationType"` // public_place, workplace, hospital, school_or_college, transport, other_non_dwelling
	AgeYears         int       `json:"ageYears" schema:"v1/s136.detained.json#/properties/ageYears" minimum:"1"`
	KeptWhereTheyAre bool      `json:"keptWhereTheyAre,omitempty" schema:"v1/s136.detained.json#/properties/keptWhereTheyAre"`
}

// ArriveRequest: the person arrives at the place of safety (the s136 clock starts).
type ArriveRequest struct {
	agency.Base
	events.PlaceOfSafetyArrived
}

// WelfareRequest: a welfare check of a person held in a police station.
type WelfareRequest struct {
	agency.Base
	events.S136WelfareChecked
}

// ReleaseRequest: the s136 detention ends without an assessment outcome.
type ReleaseRequest struct {
	agency.Base
	events.S136Released
}

func validate(b agency.Base) error { return errors.Join(b.Check()...) }

// Validate names what is missing.
func (r *TriageRequest) Validate() error { return validate(r.Base) }

// Validate names what is missing.
func (r *RCRPRequest) Validate() error { return validate(r.Base) }

// Validate names what is missing.
func (r *DispatchRequest) Validate() error { return validate(r.Base) }

// Validate names what is missing.
func (r *ConsultRequest) Validate() error { return validate(r.Base) }

// Validate names what is missing.
func (r *ArriveRequest) Validate() error { return validate(r.Base) }

// Validate names what is missing.
func (r *WelfareRequest) Validate() error { return validate(r.Base) }

// Validate names what is missing.
func (r *ReleaseRequest) Validate() error { return validate(r.Base) }

// Validate names what is missing.
func (r *DetainRequest) Validate() error {
	errs := r.Check()
	if r.DetainedAt.IsZero() || r.LocationType == "" {
		errs = append(errs, errors.New("detainedAt and locationType are required"))
	}
	if r.AgeYears <= 0 {
		errs = append(errs, errors.New("ageYears is required (under 18: never a police station)"))
	}
	return errors.Join(errs...)
}

// Service is the police control room's service.
type Service struct{ k *agency.Kit }

// ClinicalElsewhere says where the clinical text police refuse is recorded
// instead: with the trust's command that records the same fact.
func ClinicalElsewhere(spec events.Spec, field string) string {
	switch spec.Name {
	case "triage.advice_given":
		return "the control-room mental health worker records it with the trust's triage advice, " + agency.Subject(events.SPoA, "triage.advice")
	case "street_triage.outcome":
		return "the street triage nurse records it with the trust's street triage outcome, " + agency.Subject(events.SPoA, "street_triage.outcome")
	}
	return "a health agency records it"
}

// Start runs the police service: its inbox and its commands.
func Start(ctx context.Context, k *agency.Kit) (*agency.Service, error) {
	k.ClinicalElsewhere = ClinicalElsewhere
	return k.Serve(ctx, "crisisbus police control room: triage, Right Care Right Person, street triage, s136", nil, Commands(k))
}

// Commands are the police service's own commands, relative to its prefix
// (besides the common ones of package agency): what it serves, and what
// the contract describes.
func Commands(k *agency.Kit) []rpc.Command {
	s := &Service{k: k}
	return []rpc.Command{
		rpc.Handle("triage.request", agency.Recorder(k, func(r TriageRequest) any { return &r.TriageRequested })),
		rpc.Handle("triage.advice", agency.Recorder(k, func(r agency.AdviceRequest) any { return &r.TriageAdviceGiven })),
		rpc.Handle("rcrp.decide", agency.Recorder(k, func(r RCRPRequest) any { return &r.RcrpDecided })),
		rpc.Handle("street_triage.dispatch", agency.Recorder(k, func(r DispatchRequest) any { return &r.StreetTriageDispatched })),
		rpc.Handle("street_triage.outcome", agency.Recorder(k, func(r agency.StreetOutcomeRequest) any { return &r.StreetTriageOutcome })),
		rpc.Handle("s136.consult", agency.Recorder(k, func(r ConsultRequest) any { return &r.S136Consulted })),
		rpc.Handle("s136.detain", s.Detain),
		rpc.Handle("pos.request", agency.Recorder(k, func(r agency.PlaceRequest) any { return &r.PlaceOfSafetyRequested })),
		rpc.Handle("pos.arrive", s.Arrive),
		rpc.Handle("s136.welfare", s.Welfare),
		rpc.Handle("s136.release", s.Release),
	}
}

// Detain records an s136 detention: refused at a private dwelling (s136(1))
// and before the consultation is recorded (s136(1C)).
func (s *Service) Detain(ctx context.Context, r DetainRequest) (agency.Receipt, error) {
	if err := refuse(law.CheckDetentionLocation(r.LocationType)); err != nil {
		return agency.Receipt{}, err
	}
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if err := v.CheckActive(); err != nil {
			return nil, err
		}
		if v.S136 != nil && !v.S136.Ended {
			return nil, events.Errorf(events.Conflict, "the person is already detained under s136 since %s", v.S136.DetainedAt.Format(time.RFC3339))
		}
		consulted, err := checkConsulted(v)
		if err != nil {
			return nil, err
		}
		return []agency.Out{agency.Fact(&events.S136Detained{DetainedAt: r.DetainedAt.UTC(), LocationType: r.LocationType, AgeYears: r.AgeYears,
			KeptWhereTheyAre: r.KeptWhereTheyAre, Consulted: consulted})}, nil
	})
}

// Arrive records arrival at the place of safety: refused at a police
// station for anyone under 18 (s136A(1)), and for an adult without the
// recorded conditions (s136A(2)(b), Places of Safety Regulations 2017) or
// without the reason a police station was used (no health-based place
// free, or violence that cannot be managed there). At a police station
// the fact also names the health-based places of safety the live
// directory showed with room for the person then (PlacesWithRoom), so the
// record says so when a cell was used while one had room.
func (s *Service) Arrive(ctx context.Context, r ArriveRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if err := v.CheckActive(); err != nil {
			return nil, err
		}
		if err := checkDetained(v); err != nil {
			return nil, err
		}
		if err := refuse(law.CheckPlaceOfSafety(v.Age(), r.PlaceType, r.PoliceStation)); err != nil {
			return nil, err
		}
		d := r.PlaceOfSafetyArrived
		if d.PlaceType == events.PoliceStation {
			cond := *d.PoliceStation
			if !slices.Contains(events.PoliceStationReasons, cond.Reason) {
				return nil, events.Errorf(events.Invalid, "policeStation.reason is required when a police station is used: %s (no health-based place of safety free) or %s (violence that cannot be managed there)",
					events.NoHealthBasedPlaceFree, events.ViolenceCannotBeManaged)
			}
			room, err := s.withRoom(ctx, v, d.ArrivedAt)
			if err != nil {
				return nil, err
			}
			cond.PlacesWithRoom = room
			d.PoliceStation = &cond
		}
		return []agency.Out{agency.Fact(&d)}, nil
	})
}

// withRoom asks the live directory of places (the record) which
// health-based places of safety were open with room for the person at
// that moment, by name, nearest first.
func (s *Service) withRoom(ctx context.Context, v *episode.View, at time.Time) ([]string, error) {
	req := record.PlacesRequest{Kinds: []places.Kind{places.HealthBasedPlaceOfSafety}, Referred: true, At: at, Town: townIn(v.Location)}
	if age := v.Age(); age > 0 {
		req.Age = &age
	}
	resp, err := rpc.Call[record.PlacesRequest, record.PlacesResponse](ctx, s.k.Bus.Conn(), record.PlacesSubject(s.k.Agency()), req)
	if err != nil {
		return nil, fmt.Errorf("read the live directory of places: %w", err)
	}
	var room []string
	for _, o := range resp.Options {
		if o.Usable {
			room = append(room, o.Place.Name)
		}
	}
	return room, nil
}

// townIn is the bundled town named in a location, if any ("Ramsgate
// harbour wall": Ramsgate), so places are ranked from there.
func townIn(location string) string {
	l := strings.ToLower(location)
	for _, t := range places.Towns() {
		if strings.Contains(l, strings.ToLower(t)) {
			return t
		}
	}
	return ""
}

// Welfare records a welfare check of a person held in a police station.
func (s *Service) Welfare(ctx context.Context, r WelfareRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if err := checkDetained(v); err != nil {
			return nil, err
		}
		d := r.S136WelfareChecked
		return []agency.Out{agency.Fact(&d)}, nil
	})
}

// Release ends the s136 detention without an assessment outcome.
func (s *Service) Release(ctx context.Context, r ReleaseRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if err := checkDetained(v); err != nil {
			return nil, err
		}
		d := r.S136Released
		return []agency.Out{agency.Fact(&d)}, nil
	})
}
