// Package spoa is the mental health trust's single point of access: it
// receives urgent and emergency referrals from every agency (acknowledged
// on arrival by its inbox), accepts or declines them, gives triage advice,
// allocates health-based places of safety, and routes the person to the
// service that fits (crisis resolution and home treatment, liaison
// psychiatry, the community mental health team, a safe haven).
//
// Commands on crisisbus.spoa.<command>, besides the common ones of package
// agency (handoff.accept / decline of referrals, ...):
//
//	triage.advice          agency.AdviceRequest         → agency.Receipt
//	street_triage.outcome  agency.StreetOutcomeRequest  → agency.Receipt
//	pos.allocate           AllocateRequest              → agency.Receipt
//	route                  RouteRequest                 → agency.Receipt
//
// The trust's staff outside SPoA record their clinical text here too, under
// the trust's identity rather than the agency they sit with: the
// control-room mental health worker's triage advice with its health history
// (police views show the advice, never the history), and the street triage
// nurse's outcome with their notes.
package spoa

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// Routes are where SPoA sends a person.
var Routes = []string{"crisis_team", "home_treatment", "liaison_psychiatry", "cmht", "safe_haven", "crisis_cafe", "gp", "no_further_action"}

// AllocateRequest: a health-based place of safety is allocated.
type AllocateRequest struct {
	agency.Base
	events.PlaceOfSafetyAllocated
}

// RouteRequest routes an accepted referral and completes it.
type RouteRequest struct {
	agency.Base
	HandoffID string `json:"handoffId,omitempty"` // default: the referral SPoA has accepted
	Route     string `json:"route"`               // one of Routes
	Detail    string `json:"detail"`              // e.g. which safe haven, which team
}

// Enums are the routes SPoA takes, for the contract.
func (r *RouteRequest) Enums() map[string][]string { return map[string][]string{"route": Routes} }

// Validate names what is missing.
func (r *RouteRequest) Validate() error {
	errs := r.Check()
	if !slices.Contains(Routes, r.Route) {
		errs = append(errs, fmt.Errorf("route %q is not one of %v", r.Route, Routes))
	}
	if r.Detail == "" {
		errs = append(errs, errors.New("detail is required"))
	}
	return errors.Join(errs...)
}

// Service is SPoA's service.
type Service struct{ k *agency.Kit }

// Start runs SPoA's service: its inbox and its commands.
func Start(ctx context.Context, k *agency.Kit) (*agency.Service, error) {
	return k.Serve(ctx, "crisisbus single point of access: referrals, triage advice, places of safety, routing", nil, Commands(k))
}

// Commands are the spoa service's own commands, relative to its prefix
// (besides the common ones of package agency): what it serves, and what
// the contract describes.
func Commands(k *agency.Kit) []rpc.Command {
	s := &Service{k: k}
	return []rpc.Command{
		rpc.Handle("triage.advice", controlRoom(k, func(r agency.AdviceRequest) any { return &r.TriageAdviceGiven })),
		rpc.Handle("street_triage.outcome", controlRoom(k, func(r agency.StreetOutcomeRequest) any { return &r.StreetTriageOutcome })),
		rpc.Handle("pos.allocate", s.Allocate),
		rpc.Handle("route", s.Route),
	}
}

// controlRoom records what the trust's staff in the police control room
// record (triage advice, a street triage outcome): on an episode the trust
// has a part in, or on a call police opened, which it reads for that
// reason (episode.ControlRoomReason, named in the record's disclosure).
// On any other episode it is refused: the trust has no part in it.
func controlRoom[R agency.Based](k *agency.Kit, data func(R) any) func(context.Context, R) (agency.Receipt, error) {
	return func(ctx context.Context, r R) (agency.Receipt, error) {
		b, d := r.Ref(), data(r)
		return k.DoGiving(ctx, b.Episode, b.Actor, episode.ControlRoomReason, func(v *episode.View) ([]agency.Out, error) {
			if err := agency.Recordable(v, b.Episode); err != nil {
				return nil, err
			}
			if !v.HasPart(events.SPoA) && !v.AdvisesOnPoliceCall(events.SPoA, d) {
				return nil, events.Errorf(events.Forbidden, "%s (the trust has no part in episode %s, and it is not a call police opened)", episode.NoPartMessage, b.Episode)
			}
			return []agency.Out{agency.Fact(d)}, nil
		})
	}
}

// Allocate allocates a health-based place of safety. A police station is
// never SPoA's to allocate: police use one only under s136A's conditions.
func (s *Service) Allocate(ctx context.Context, r AllocateRequest) (agency.Receipt, error) {
	if r.PlaceType == events.PoliceStation {
		return agency.Receipt{}, events.Errorf(events.Forbidden, "SPoA allocates health-based places of safety; a police station is used only by police under the conditions of MHA 1983 s136A")
	}
	d := r.PlaceOfSafetyAllocated
	return s.k.Record(ctx, r.Episode, r.Actor, agency.Fact(&d))
}

// Route completes an accepted referral with where the person was routed.
func (s *Service) Route(ctx context.Context, r RouteRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		id := r.HandoffID
		if id == "" {
			h := agency.Accepted(v, events.SPoA, events.SPoAReferral)
			if h == nil {
				return nil, events.Errorf(events.Conflict, "SPoA has no accepted referral on episode %s to route: accept it first", r.Episode)
			}
			id = h.ID
		}
		return s.k.CompleteOut(v, id, "routed to "+r.Route+": "+r.Detail)
	})
}
