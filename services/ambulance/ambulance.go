// Package ambulance is the ambulance service's emergency operations centre
// (EOC): it triages calls with a mental health element, with its mental
// health worker; decides hear-and-treat or see-and-treat; records whether
// and where the person was conveyed (avoiding the emergency department when
// there is no physical health concern); and refers to SPoA.
//
// Commands on crisisbus.ambulance.<command>, besides the common ones of
// package agency (open, handoff.offer to SPoA, ...):
//
//	call.triage    CallRequest        → agency.Receipt
//	triage.advice  agency.AdviceRequest  → agency.Receipt
//	conveyance     ConveyanceRequest  → agency.Receipt
//	pos.request    agency.PlaceRequest → agency.Receipt
package ambulance

import (
	"context"
	"errors"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// CallRequest: the EOC triages the call (notes are clinical).
type CallRequest struct {
	agency.Base
	events.AmbulanceCallTriaged
}

// ConveyanceRequest: where the person was taken, or that they were not.
type ConveyanceRequest struct {
	agency.Base
	events.AmbulanceConveyance
}

// Validate names what is missing.
func (r *ConveyanceRequest) Validate() error {
	errs := r.Check()
	if r.Conveyed && r.Destination == "" {
		errs = append(errs, errors.New("destination is required when conveyed"))
	}
	if !r.Conveyed && r.Destination != "" {
		errs = append(errs, errors.New("destination is given but conveyed is false"))
	}
	return errors.Join(errs...)
}

// Start runs the EOC's service: its inbox and its commands.
func Start(ctx context.Context, k *agency.Kit) (*agency.Service, error) {
	return k.Serve(ctx, "crisisbus ambulance EOC: mental health call triage, conveyance, referral to SPoA", nil, Commands(k))
}

// Commands are the ambulance service's own commands, relative to its prefix
// (besides the common ones of package agency): what it serves, and what
// the contract describes.
func Commands(k *agency.Kit) []rpc.Command {
	return []rpc.Command{
		rpc.Handle("call.triage", agency.Recorder(k, func(r CallRequest) any { return &r.AmbulanceCallTriaged })),
		rpc.Handle("triage.advice", agency.Recorder(k, func(r agency.AdviceRequest) any { return &r.TriageAdviceGiven })),
		rpc.Handle("conveyance", agency.Recorder(k, func(r ConveyanceRequest) any { return &r.AmbulanceConveyance })),
		rpc.Handle("pos.request", agency.Recorder(k, func(r agency.PlaceRequest) any { return &r.PlaceOfSafetyRequested })),
	}
}
