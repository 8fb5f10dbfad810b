package episode

import (
	"fmt"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// The handoff protocol, the same for every kind of handoff:
//
//	offered ─► acknowledged ─► accepted ─► completed
//	   │            │
//	   ├────────────┴─► declined (with a reason)
//	   └────────────┴─► cancelled (by the offering agency)
//
// Ownership of the episode passes only on acceptance, and only from the
// agency that is the owner when the acceptance is recorded: so the episode
// has exactly one owner until it is closed. These checks are used twice:
// by the agencies' commands before they publish (with an expected episode
// sequence, so nothing can change in between) and by the record's fold,
// which refuses to apply an event that breaks them.

// HandoffState is where a handoff is in the protocol.
type HandoffState string

// Handoff states.
const (
	Offered      HandoffState = "offered"
	Acknowledged HandoffState = "acknowledged"
	Accepted     HandoffState = "accepted"
	Declined     HandoffState = "declined"
	Cancelled    HandoffState = "cancelled"
	Completed    HandoffState = "completed"
)

// Open reports whether the handoff still waits for the receiver's answer.
func (s HandoffState) Open() bool { return s == Offered || s == Acknowledged }

// Handoff is one handoff of the episode.
type Handoff struct {
	ID            string             `json:"id"`
	Kind          events.HandoffKind `json:"kind"`
	From          events.Agency      `json:"from"`
	To            events.Agency      `json:"to"`
	State         HandoffState       `json:"state"`
	Reason        string             `json:"reason"`
	Urgency       string             `json:"urgency"`
	OfferedAt     time.Time          `json:"offeredAt"`
	OfferEvent    string             `json:"offerEvent"`
	FactsCarried  int                `json:"factsCarried"`
	AcceptedBy    string             `json:"acceptedBy,omitempty"`
	DeclineReason string             `json:"declineReason,omitempty"`
	DeclineDetail string             `json:"declineDetail,omitempty"`
	CancelReason  string             `json:"cancelReason,omitempty"`
	Outcome       string             `json:"outcome,omitempty"`
	Escalated     bool               `json:"escalated,omitempty"` // its breach time passed unanswered (clock.breached)
	UpdatedAt     time.Time          `json:"updatedAt"`
}

// Errors of the protocol. Each refusal wraps one, with words saying why.
var (
	ErrUnknownEpisode  = events.Refusal(events.NotFound, "unknown episode")
	ErrUnknownHandoff  = events.Refusal(events.NotFound, "unknown handoff")
	ErrClosed          = events.Refusal(events.Conflict, "episode is closed")
	ErrNotOwner        = events.Refusal(events.Conflict, "agency does not own the episode")
	ErrSecondOwner     = events.Refusal(events.Conflict, "would make a second owner")
	ErrNotAddressed    = events.Refusal(events.Conflict, "handoff is not addressed to this agency")
	ErrNotOfferer      = events.Refusal(events.Conflict, "handoff was offered by another agency")
	ErrHandoffState    = events.Refusal(events.Conflict, "handoff is not in a state that allows this")
	ErrHandoffCanceled = events.Refusal(events.Conflict, "handoff was cancelled")
	ErrOpenHandoffs    = events.Refusal(events.Conflict, "episode has open handoffs")
	ErrDuplicateOffer  = events.Refusal(events.Conflict, "an open handoff of this kind to this agency already exists")
)

// Handoff returns the handoff with this id, or nil.
func (v *View) Handoff(id string) *Handoff {
	for i := range v.Handoffs {
		if v.Handoffs[i].ID == id {
			return &v.Handoffs[i]
		}
	}
	return nil
}

// OpenHandoffs lists handoffs still waiting for an answer.
func (v *View) OpenHandoffs() []Handoff {
	var out []Handoff
	for _, h := range v.Handoffs {
		if h.State.Open() {
			out = append(out, h)
		}
	}
	return out
}

// FollowUpBy is the agency that makes the follow-up calls still to make:
// the one that accepted the follow-up referral and has not completed it
// (completing the follow-up completes the referral),
// whoever owns the episode since (the helpline keeps its calls when it
// escalates to SPoA and SPoA takes the episode on). Empty when no
// follow-up runs. The helpline's service records a call only from it, and
// the worklists and the console show it to every agency.
func (v *View) FollowUpBy() events.Agency {
	if v.Closed {
		return ""
	}
	for i := len(v.Handoffs) - 1; i >= 0; i-- {
		if h := v.Handoffs[i]; h.Kind == events.FollowUp && h.State == Accepted {
			return h.To
		}
	}
	return ""
}

func (v *View) transition(id string, to HandoffState, at time.Time, f func(*Handoff)) {
	h := v.Handoff(id)
	if h == nil {
		return
	}
	h.State, h.UpdatedAt = to, at
	if f != nil {
		f(h)
	}
}

// CheckActive says whether the episode is opened and not closed.
func (v *View) CheckActive() error {
	if !v.Opened {
		return fmt.Errorf("%w: %s has no episode.opened event", ErrUnknownEpisode, v.Episode)
	}
	if v.Closed {
		return fmt.Errorf("%w (%s)", ErrClosed, v.ClosedReason)
	}
	return nil
}

// CheckOwner says whether agency a owns the open episode.
func (v *View) CheckOwner(a events.Agency) error {
	if err := v.CheckActive(); err != nil {
		return err
	}
	if v.Owner != a {
		return fmt.Errorf("%w: %s owns it, not %s", ErrNotOwner, v.Owner.Title(), a.Title())
	}
	return nil
}

// CheckOffer says whether from may offer the episode to `to`.
func (v *View) CheckOffer(from, to events.Agency, kind events.HandoffKind) error {
	if err := v.CheckOwner(from); err != nil {
		return fmt.Errorf("only the owner offers a handoff: %w", err)
	}
	for _, h := range v.Handoffs {
		if h.State.Open() && h.To == to && h.Kind == kind {
			return fmt.Errorf("%w: %s (%s, %s)", ErrDuplicateOffer, h.ID, h.Kind, h.State)
		}
	}
	return nil
}

func (v *View) handoffTo(id string, by events.Agency) (*Handoff, error) {
	if err := v.CheckActive(); err != nil {
		return nil, err
	}
	h := v.Handoff(id)
	if h == nil {
		return nil, fmt.Errorf("%w %s on episode %s", ErrUnknownHandoff, id, v.Episode)
	}
	if h.To != by {
		return nil, fmt.Errorf("%w: %s was offered to %s, not %s", ErrNotAddressed, id, h.To.Title(), by.Title())
	}
	return h, nil
}

func notOpen(h *Handoff, verb string) error {
	switch h.State {
	case Cancelled:
		return fmt.Errorf("cannot %s: %w by %s (%s)", verb, ErrHandoffCanceled, h.From.Title(), h.CancelReason)
	case Declined:
		return fmt.Errorf("cannot %s: %w: it was declined (%s)", verb, ErrHandoffState, h.DeclineReason)
	case Accepted, Completed:
		return fmt.Errorf("cannot %s: %w: it was already accepted by %s (%s)", verb, ErrHandoffState, h.To.Title(), h.State)
	}
	return fmt.Errorf("cannot %s: %w (%s)", verb, ErrHandoffState, h.State)
}

// CheckAcknowledge says whether `by` may acknowledge handoff id.
func (v *View) CheckAcknowledge(id string, by events.Agency) error {
	h, err := v.handoffTo(id, by)
	if err != nil {
		return err
	}
	if h.State != Offered {
		return notOpen(h, "acknowledge")
	}
	return nil
}

// CheckAccept says whether `by` may accept handoff id and so become the owner.
func (v *View) CheckAccept(id string, by events.Agency) error {
	h, err := v.handoffTo(id, by)
	if err != nil {
		return err
	}
	if !h.State.Open() {
		return notOpen(h, "accept")
	}
	if v.Owner != h.From {
		return fmt.Errorf("cannot accept: %w: %s offered it but %s owns the episode now", ErrSecondOwner, h.From.Title(), v.Owner.Title())
	}
	return nil
}

// CheckDecline says whether `by` may decline handoff id.
func (v *View) CheckDecline(id string, by events.Agency) error {
	h, err := v.handoffTo(id, by)
	if err != nil {
		return err
	}
	if !h.State.Open() {
		return notOpen(h, "decline")
	}
	return nil
}

// CheckCancel says whether `by` may withdraw its offer id.
func (v *View) CheckCancel(id string, by events.Agency) error {
	if err := v.CheckActive(); err != nil {
		return err
	}
	h := v.Handoff(id)
	if h == nil {
		return fmt.Errorf("%w %s on episode %s", ErrUnknownHandoff, id, v.Episode)
	}
	if h.From != by {
		return fmt.Errorf("%w: %s offered %s, not %s", ErrNotOfferer, h.From.Title(), id, by.Title())
	}
	if !h.State.Open() {
		return notOpen(h, "cancel")
	}
	return nil
}

// CheckComplete says whether `by` may complete handoff id.
func (v *View) CheckComplete(id string, by events.Agency) error {
	h, err := v.handoffTo(id, by)
	if err != nil {
		return err
	}
	if h.State != Accepted {
		return fmt.Errorf("cannot complete: %w: it is %s, not accepted", ErrHandoffState, h.State)
	}
	return nil
}

// CheckClose says whether `by` may close the episode.
func (v *View) CheckClose(by events.Agency) error {
	if err := v.CheckOwner(by); err != nil {
		return fmt.Errorf("only the owner closes the episode: %w", err)
	}
	if open := v.OpenHandoffs(); len(open) > 0 {
		return fmt.Errorf("%w: %s to %s is %s; cancel or answer it first", ErrOpenHandoffs, open[0].ID, open[0].To.Title(), open[0].State)
	}
	return nil
}
