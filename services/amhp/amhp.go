// Package amhp is the AMHP service's service: it accepts requests for
// Mental Health Act assessments (above all s136), arranges the s12-approved
// doctor, records delays with their cause and the outcome, and on "not
// admitted" refers the person to the helpline for 4 days of follow-up.
//
// Commands on crisisbus.amhp.<command>, besides the common ones of package
// agency (handoff.accept / decline on the assessment request, ...):
//
//	doctor       DoctorRequest   → agency.Receipt
//	delay        DelayRequest    → agency.Receipt
//	s136.extend  ExtendRequest   → agency.Receipt
//	outcome      OutcomeRequest  → OutcomeResponse
package amhp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// DoctorRequest: a doctor is allocated to the assessment.
type DoctorRequest struct {
	agency.Base
	events.AssessmentDoctorAllocated
}

// DelayRequest: the assessment is delayed, with its cause (amhp_availability,
// s12_doctor_availability, intoxication, no_bed, interpreter, other).
type DelayRequest struct {
	agency.Base
	events.AssessmentDelayed
}

// ExtendRequest: the examining doctor extends the s136 period (s136B).
type ExtendRequest struct {
	agency.Base
	Hours                  int    `json:"hours" schema:"v1/s136.extended.json#/properties/hours"`
	Doctor                 string `json:"doctor" schema:"v1/s136.extended.json#/properties/doctor"`
	Reason                 string `json:"reason" schema:"v1/s136.extended.json#/properties/reason"`
	SuperintendentApproval string `json:"superintendentApproval,omitempty" schema:"v1/s136.extended.json#/properties/superintendentApproval"`
}

// Validate names what is missing.
func (r *ExtendRequest) Validate() error {
	errs := r.Check()
	if r.Hours == 0 {
		errs = append(errs, errors.New("hours is required (the extension's length, at most 12)"))
	}
	if r.Doctor == "" || r.Reason == "" {
		errs = append(errs, errors.New("doctor and reason are required"))
	}
	return errors.Join(errs...)
}

// OutcomeRequest: the assessment's outcome (detained_s2, detained_s3,
// informal_admission, not_admitted). Notes are clinical: never in police views.
type OutcomeRequest struct {
	agency.Base
	Outcome     string    `json:"outcome" schema:"v1/assessment.completed.json#/properties/outcome"`
	CompletedAt time.Time `json:"completedAt" schema:"v1/assessment.completed.json#/properties/completedAt"`
	Notes       string    `json:"notes,omitempty" schema:"v1/assessment.completed.json#/properties/notes"`
	// FollowUpReason is why the person is referred to the helpline when not
	// admitted (default: the 4-day follow-up after an s136 assessment).
	FollowUpReason string `json:"followUpReason,omitempty" schema:"v1/handoff.offered.json#/properties/reason"`
}

// Validate names what is missing.
func (r *OutcomeRequest) Validate() error {
	errs := r.Check()
	if r.Outcome == "" || r.CompletedAt.IsZero() {
		errs = append(errs, errors.New("outcome and completedAt are required"))
	}
	return errors.Join(errs...)
}

// OutcomeResponse says what was recorded, and the follow-up handoff offered
// to the helpline when the person was not admitted.
type OutcomeResponse struct {
	Receipt         agency.Receipt `json:"receipt"`
	FollowUpHandoff string         `json:"followUpHandoff,omitempty"`
}

// Service is the AMHP service.
type Service struct{ k *agency.Kit }

// Start runs the AMHP service: its inbox and its commands.
func Start(ctx context.Context, k *agency.Kit) (*agency.Service, error) {
	return k.Serve(ctx, "crisisbus AMHP service: MHA assessments, s12 doctors, delays, outcomes, referral to follow-up", nil, Commands(k))
}

// Commands are the amhp service's own commands, relative to its prefix
// (besides the common ones of package agency): what it serves, and what
// the contract describes.
func Commands(k *agency.Kit) []rpc.Command {
	s := &Service{k: k}
	return []rpc.Command{
		rpc.Handle("doctor", s.Doctor),
		rpc.Handle("delay", s.Delay),
		rpc.Handle("s136.extend", s.Extend),
		rpc.Handle("outcome", s.Outcome),
	}
}

// assessing returns the assessment request the AMHP service has accepted.
func (s *Service) assessing(v *episode.View) (*episode.Handoff, error) {
	if err := v.CheckActive(); err != nil {
		return nil, err
	}
	h := agency.Accepted(v, events.AMHP, events.MHAAssessment)
	if h == nil {
		return nil, events.Errorf(events.Conflict, "the AMHP service has no accepted assessment request on episode %s: accept the mha_assessment handoff first", v.Episode)
	}
	return h, nil
}

// Doctor records the allocated doctor.
func (s *Service) Doctor(ctx context.Context, r DoctorRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if _, err := s.assessing(v); err != nil {
			return nil, err
		}
		if r.Role == "s12" && !r.S12Approved {
			return nil, events.Errorf(events.Forbidden, "%s is not s12-approved and cannot be the s12 doctor: MHA 1983 s12(2)", r.Doctor)
		}
		d := r.AssessmentDoctorAllocated
		return []agency.Out{agency.Fact(&d)}, nil
	})
}

// Delay records a delay with its cause.
func (s *Service) Delay(ctx context.Context, r DelayRequest) (agency.Receipt, error) {
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if _, err := s.assessing(v); err != nil {
			return nil, err
		}
		d := r.AssessmentDelayed
		return []agency.Out{agency.Fact(&d)}, nil
	})
}

// Extend records an s136B extension, refused when the law does not allow it.
func (s *Service) Extend(ctx context.Context, r ExtendRequest) (agency.Receipt, error) {
	now := s.k.Time()
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if _, err := s.assessing(v); err != nil {
			return nil, err
		}
		if err := checkExtension(v, now, r); err != nil {
			return nil, err
		}
		return []agency.Out{agency.Fact(&events.S136Extended{Hours: r.Hours, Doctor: r.Doctor, Reason: r.Reason,
			SuperintendentApproval: r.SuperintendentApproval, ExtendedAt: now})}, nil
	})
}

// Outcome records the assessment's outcome, completes the assessment
// request and, when the person is not admitted, offers the helpline the
// 4-day follow-up, carrying the episode summary with the outcome in it.
// Sent again after a failure, it finishes what is missing and repeats nothing.
func (s *Service) Outcome(ctx context.Context, r OutcomeRequest) (OutcomeResponse, error) {
	rec, err := s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if v.Assessment != nil && v.Assessment.Outcome == r.Outcome && agency.Accepted(v, events.AMHP, events.MHAAssessment) == nil {
			return nil, nil // recorded already
		}
		h, err := s.assessing(v)
		if err != nil {
			return nil, err
		}
		if err := checkRecommendations(r.Outcome, v.Assessment); err != nil {
			return nil, err
		}
		done, err := s.k.CompleteOut(v, h.ID, "assessment completed: "+r.Outcome)
		if err != nil {
			return nil, err
		}
		return append([]agency.Out{agency.Fact(&events.AssessmentCompleted{Outcome: r.Outcome, CompletedAt: r.CompletedAt.UTC(), Notes: r.Notes})}, done...), nil
	})
	resp := OutcomeResponse{Receipt: rec}
	if err != nil || r.Outcome != "not_admitted" {
		return resp, err
	}
	reason := r.FollowUpReason
	if reason == "" {
		reason = "assessed under s136 and not admitted: 4 days of telephone follow-up"
	}
	id := events.NewEpisodeID()
	more, err := s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		for _, h := range v.Handoffs {
			if h.Kind == events.FollowUp && h.To == events.Crisisline && h.From == events.AMHP && h.State != episode.Declined && h.State != episode.Cancelled {
				id = h.ID
				return nil, nil // referred already
			}
		}
		return s.k.OfferOut(v, id, events.FollowUp, events.Crisisline, reason, "urgent")
	})
	resp.Receipt.Events = append(resp.Receipt.Events, more.Events...)
	if more.Sequence > 0 {
		resp.Receipt.Sequence = more.Sequence
	}
	if err != nil {
		return resp, fmt.Errorf("outcome recorded, but the referral to the helpline failed (send the outcome again to retry): %w", err)
	}
	resp.FollowUpHandoff = id
	return resp, nil
}
