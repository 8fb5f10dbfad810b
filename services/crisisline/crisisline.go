// Package crisisline is the crisis line and follow-up helpline's service.
// When it accepts a follow-up referral (from the AMHP service, after an s136
// assessment that did not admit the person) it schedules one call a day for
// 4 days; it records each call, escalates to SPoA when risk rises, and
// completes the follow-up.
//
// Commands on crisisbus.crisisline.<command>, besides the common ones of
// package agency:
//
//	followup.schedule  ScheduleRequest  → agency.Receipt
//	followup.contact   ContactRequest   → agency.Receipt
//	followup.escalate  EscalateRequest  → EscalateResponse
//	followup.complete  FinishRequest    → agency.Receipt
package crisisline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// FollowUpDays is how long the helpline follows a person up (since May 2016,
// seed 003 §4.7.5), one call a day.
const FollowUpDays = 4

// ScheduleRequest schedules one more follow-up call.
type ScheduleRequest struct {
	agency.Base
	events.FollowupContactScheduled
}

// ContactRequest records a follow-up call. Notes are clinical.
type ContactRequest struct {
	agency.Base
	events.FollowupContactAttempted
}

// EscalateRequest escalates to SPoA because risk has risen.
type EscalateRequest struct {
	agency.Base
	Risk   events.Risk `json:"risk" schema:"v1/followup.escalated.json#/properties/risk"` // medium, high, immediate
	Reason string      `json:"reason" schema:"v1/followup.escalated.json#/properties/reason"`
}

// EscalationRisks are the risks the helpline escalates at: risk has risen.
var EscalationRisks = []string{"medium", "high", "immediate"}

// Enums are the risks an escalation takes, for the contract.
func (r *EscalateRequest) Enums() map[string][]string {
	return map[string][]string{"risk": EscalationRisks}
}

// Validate names what is missing.
func (r *EscalateRequest) Validate() error {
	errs := r.Check()
	if r.Reason == "" {
		errs = append(errs, errors.New("reason is required"))
	}
	if !slices.Contains(EscalationRisks, string(r.Risk)) {
		errs = append(errs, fmt.Errorf("risk %q: escalate when risk has risen (medium, high or immediate)", r.Risk))
	}
	return errors.Join(errs...)
}

// EscalateResponse names the referral offered to SPoA.
type EscalateResponse struct {
	Receipt   agency.Receipt `json:"receipt"`
	HandoffID string         `json:"handoffId"`
}

// FinishRequest completes the follow-up, and closes the episode when asked.
type FinishRequest struct {
	agency.Base
	Summary      string `json:"summary" schema:"v1/followup.completed.json#/properties/summary"`
	CloseEpisode bool   `json:"closeEpisode,omitempty"`
}

// Validate names what is missing.
func (r *FinishRequest) Validate() error {
	errs := r.Check()
	if r.Summary == "" {
		errs = append(errs, errors.New("summary is required"))
	}
	return errors.Join(errs...)
}

// Service is the helpline's service.
type Service struct{ k *agency.Kit }

// Start runs the helpline's service: its inbox and its commands.
func Start(ctx context.Context, k *agency.Kit) (*agency.Service, error) {
	s := &Service{k: k}
	k.OnAccept = s.scheduleOnAccept
	return k.Serve(ctx, "crisisbus crisis line and follow-up helpline: 4-day follow-up, escalation to SPoA", nil, Commands(k))
}

// Commands are the crisisline service's own commands, relative to its prefix
// (besides the common ones of package agency): what it serves, and what
// the contract describes.
func Commands(k *agency.Kit) []rpc.Command {
	s := &Service{k: k}
	return []rpc.Command{
		rpc.Handle("followup.schedule", s.Schedule),
		rpc.Handle("followup.contact", s.Contact),
		rpc.Handle("followup.escalate", s.Escalate),
		rpc.Handle("followup.complete", s.Finish),
	}
}

// scheduleOnAccept schedules one call a day for FollowUpDays as the helpline
// accepts a follow-up referral.
func (s *Service) scheduleOnAccept(_ *episode.View, h episode.Handoff, _ string) []agency.Out {
	if h.Kind != events.FollowUp {
		return nil
	}
	now := s.k.Time()
	var outs []agency.Out
	for n := 1; n <= FollowUpDays; n++ {
		outs = append(outs, agency.Fact(&events.FollowupContactScheduled{DueAt: now.Add(time.Duration(n) * 24 * time.Hour), ContactNumber: n}))
	}
	return outs
}

func (s *Service) following(v *episode.View) (*episode.Handoff, error) {
	if err := v.CheckActive(); err != nil {
		return nil, err
	}
	// Who makes the calls is the episode's to say (episode.View.FollowUpBy),
	// not its owner: once SPoA takes an escalation on, the helpline still
	// makes the remaining calls.
	h := agency.Accepted(v, events.Crisisline, events.FollowUp)
	if by := v.FollowUpBy(); h == nil || by != events.Crisisline {
		if by != "" {
			return nil, events.Errorf(events.Conflict, "the follow-up calls on episode %s are made by %s, not the helpline", v.Episode, by.Title())
		}
		return nil, events.Errorf(events.Conflict, "the helpline has no accepted follow-up referral on episode %s: accept the followup handoff first", v.Episode)
	}
	return h, nil
}

// Schedule schedules one more call.
func (s *Service) Schedule(ctx context.Context, r ScheduleRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if _, err := s.following(v); err != nil {
			return nil, err
		}
		d := r.FollowupContactScheduled
		return []agency.Out{agency.Fact(&d)}, nil
	})
}

// Contact records a follow-up call.
func (s *Service) Contact(ctx context.Context, r ContactRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if _, err := s.following(v); err != nil {
			return nil, err
		}
		d := r.FollowupContactAttempted
		return []agency.Out{agency.Fact(&d)}, nil
	})
}

// Escalate records that risk has risen and offers SPoA a referral carrying
// the summary (with the escalation in it). Sent again, it repeats nothing.
func (s *Service) Escalate(ctx context.Context, r EscalateRequest) (EscalateResponse, error) {
	rec, err := s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if _, err := s.following(v); err != nil {
			return nil, err
		}
		if v.FollowUp != nil && v.FollowUp.Escalated {
			return nil, nil
		}
		return []agency.Out{agency.Fact(&events.FollowupEscalated{Risk: r.Risk, Reason: r.Reason})}, nil
	})
	if err != nil {
		return EscalateResponse{Receipt: rec}, err
	}
	id := events.NewEpisodeID()
	more, err := s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		for _, h := range v.Handoffs {
			if h.From == events.Crisisline && h.To == events.SPoA && h.Kind == events.SPoAReferral && (h.State.Open() || h.State == episode.Accepted) {
				id = h.ID
				return nil, nil
			}
		}
		return s.k.OfferOut(v, id, events.SPoAReferral, events.SPoA, "risk has risen during follow-up ("+string(r.Risk)+"): "+r.Reason, urgency(r.Risk))
	})
	rec.Events = append(rec.Events, more.Events...)
	return EscalateResponse{Receipt: rec, HandoffID: id}, err
}

func urgency(r events.Risk) string {
	if r == "immediate" || r == "high" {
		return "emergency"
	}
	return "urgent"
}

// Finish completes the follow-up (and the handoff), then closes the episode
// when asked and nothing else is pending.
func (s *Service) Finish(ctx context.Context, r FinishRequest) (agency.Receipt, error) {
	rec, err := s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if v.FollowUp != nil && v.FollowUp.Completed && agency.Accepted(v, events.Crisisline, events.FollowUp) == nil {
			return nil, nil
		}
		h, err := s.following(v)
		if err != nil {
			return nil, err
		}
		contacts := 0
		if v.FollowUp != nil {
			contacts = v.FollowUp.Contacts
		}
		done, err := s.k.CompleteOut(v, h.ID, fmt.Sprintf("4-day follow-up completed: %d contacts", contacts))
		if err != nil {
			return nil, err
		}
		return append([]agency.Out{agency.Fact(&events.FollowupCompleted{ContactsMade: contacts, Summary: r.Summary})}, done...), nil
	})
	if err != nil || !r.CloseEpisode {
		return rec, err
	}
	closed, err := s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if v.Closed {
			return nil, nil
		}
		if err := v.CheckClose(events.Crisisline); err != nil {
			return nil, err
		}
		return []agency.Out{agency.Fact(&events.EpisodeClosed{Reason: "4-day follow-up completed"})}, nil
	})
	rec.Events = append(rec.Events, closed.Events...)
	if closed.Sequence > 0 {
		rec.Sequence = closed.Sequence
	}
	return rec, err
}
