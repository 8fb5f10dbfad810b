package agency

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The commands every agency answers, on crisisbus.<agency>.<command>:
//
//	open                 OpenRequest      → OpenResponse
//	identify             IdentifyRequest  → Receipt
//	voice                VoiceRequest     → Receipt
//	note                 NoteRequest      → Receipt
//	link                 LinkRequest      → Receipt
//	close                CloseRequest     → Receipt
//	handoff.offer        OfferRequest     → OfferResponse
//	handoff.acknowledge  HandoffRequest   → Receipt
//	handoff.accept       HandoffRequest   → Receipt
//	handoff.decline      DeclineRequest   → Receipt
//	handoff.cancel       CancelRequest    → Receipt
//	handoff.complete     CompleteRequest  → Receipt
//	place.update         PlaceUpdateRequest → PlaceReceipt

// Base is in every command on an episode: which episode, and who acts.
type Base struct {
	Episode string `json:"episode"`
	Actor   string `json:"actor" schema:"cloudevent.json#/properties/actor"` // the person acting, e.g. a staff id
}

// Validate names what is missing from the fields every command has; a
// request that embeds Base and checks nothing more uses it as its own.
func (b Base) Validate() error { return errors.Join(b.Check()...) }

// Check names what is missing, for a request's own Validate to add to.
func (b Base) Check() []error {
	var errs []error
	if b.Episode == "" {
		errs = append(errs, errors.New("episode is required"))
	}
	if b.Actor == "" {
		errs = append(errs, errors.New("actor is required (who is acting)"))
	}
	return errs
}

// AdviceRequest: triage advice from a mental health worker (the control
// room's, the EOC's, the trust's). Health history is clinical: only an
// agency whose view shows the clinical record may record it (see
// Kit.CheckClinical).
type AdviceRequest struct {
	Base
	events.TriageAdviceGiven
}

// StreetOutcomeRequest: what street triage (an officer and a mental health
// nurse) achieved. The nurse's notes are clinical: recorded by the trust,
// never by police.
type StreetOutcomeRequest struct {
	Base
	events.StreetTriageOutcome
}

// OpenRequest opens a crisis episode: the first call or referral.
type OpenRequest struct {
	// Request is the caller's own id for this open (letters, digits, '-'
	// and '_'; a fresh UUID will do), so that sending it again when its
	// answer was lost (a timeout, a dropped connection, a form sent twice)
	// opens no second episode: the answer names the episode the first
	// opened, with Repeated set and nothing recorded again. Without it,
	// every open opens a new episode.
	Request   string                      `json:"request,omitempty"`
	Actor     string                      `json:"actor" schema:"cloudevent.json#/properties/actor"`
	Channel   string                      `json:"channel" schema:"v1/episode.opened.json#/properties/channel"` // 999, 101, 111, walk_in, referral, other
	Summary   string                      `json:"summary" schema:"v1/episode.opened.json#/properties/summary"` // what is happening, in the call-taker's words
	Location  string                      `json:"location,omitempty" schema:"v1/episode.opened.json#/properties/location"`
	Reference string                      `json:"reference,omitempty" schema:"v1/episode.opened.json#/properties/agencyReference"` // the agency's own incident or call reference
	Person    *events.PersonIdentified    `json:"person,omitempty"`
	Voice     *events.PersonVoiceRecorded `json:"voice,omitempty"`
	// Triage is the triage request raised on the first call (police, the
	// ambulance EOC), and Call the EOC's triage of that call: stored with
	// the opening, all or none, so a form that opens an episode and asks
	// for advice is one command, sent again as a whole.
	Triage *events.TriageRequested      `json:"triage,omitempty"`
	Call   *events.AmbulanceCallTriaged `json:"call,omitempty"`
}

// Validate names what is missing.
func (r *OpenRequest) Validate() error {
	var errs []error
	if r.Actor == "" {
		errs = append(errs, errors.New("actor is required (who is acting)"))
	}
	if r.Channel == "" || r.Summary == "" {
		errs = append(errs, errors.New("channel and summary are required"))
	}
	return errors.Join(errs...)
}

// OpenResponse names the new episode.
type OpenResponse struct {
	Episode string  `json:"episode"`
	Receipt Receipt `json:"receipt"`
	// Repeated: this request had opened the episode already; nothing was
	// recorded now.
	Repeated bool `json:"repeated,omitempty"`
}

// IdentifyRequest records who the person is (the NHS number's check digit is verified).
type IdentifyRequest struct {
	Base
	events.PersonIdentified
}

// VoiceRequest records the person's own words and needs.
type VoiceRequest struct {
	Base
	events.PersonVoiceRecorded
}

// NoteRequest records that the agency holding the episode gave the person
// a plain-language note of what happens next.
type NoteRequest struct {
	Base
	events.PersonNoteGiven
}

// ConsentRequest records the person's decision on whether the safe haven
// may see their clinical record (a health agency's command).
type ConsentRequest struct {
	Base
	events.ConsentRecorded
}

// LinkRequest records that two episodes are the same person. Both keep
// their timelines: a link, never a merge.
type LinkRequest struct {
	Base
	OtherEpisode string   `json:"otherEpisode"`
	MatchedOn    []string `json:"matchedOn" schema:"v1/episode.linked.json#/properties/matchedOn"` // nhs_number, name_and_date_of_birth, phone_number, ...
	Reason       string   `json:"reason" schema:"v1/episode.linked.json#/properties/reason"`
}

// Validate names what is missing.
func (r *LinkRequest) Validate() error {
	errs := r.Check()
	if r.OtherEpisode == "" || r.OtherEpisode == r.Episode {
		errs = append(errs, errors.New("otherEpisode is required and differs from episode"))
	}
	if len(r.MatchedOn) == 0 || r.Reason == "" {
		errs = append(errs, errors.New("matchedOn and reason are required"))
	}
	return errors.Join(errs...)
}

// CloseRequest closes the episode (only its owner may).
type CloseRequest struct {
	Base
	Reason string `json:"reason" schema:"v1/episode.closed.json#/properties/reason"`
}

// Validate names what is missing.
func (r *CloseRequest) Validate() error {
	errs := r.Check()
	if r.Reason == "" {
		errs = append(errs, errors.New("reason is required"))
	}
	return errors.Join(errs...)
}

// OfferRequest offers the episode to another agency. The offer carries the
// episode summary, built by the service from every fact recorded so far.
type OfferRequest struct {
	Base
	Kind    events.HandoffKind `json:"kind" schema:"v1/handoff.offered.json#/properties/kind"`
	To      events.Agency      `json:"to" schema:"v1/handoff.offered.json#/properties/to"`
	Reason  string             `json:"reason" schema:"v1/handoff.offered.json#/properties/reason"`
	Urgency string             `json:"urgency" schema:"v1/handoff.offered.json#/properties/urgency"` // emergency, urgent, routine
}

// Validate names what is missing.
func (r *OfferRequest) Validate() error {
	errs := r.Check()
	if r.Kind == "" || r.Reason == "" || r.Urgency == "" {
		errs = append(errs, errors.New("kind, reason and urgency are required"))
	}
	if !r.To.Pathway() {
		errs = append(errs, fmt.Errorf("to %q is not one of %v", r.To, events.Agencies))
	}
	return errors.Join(errs...)
}

// OfferResponse names the handoff and how many facts its summary carries.
type OfferResponse struct {
	HandoffID    string  `json:"handoffId"`
	FactsCarried int     `json:"factsCarried"`
	Receipt      Receipt `json:"receipt"`
}

// HandoffRequest names a handoff to acknowledge or accept.
type HandoffRequest struct {
	Base
	HandoffID string `json:"handoffId"`
}

// Validate names what is missing.
func (r *HandoffRequest) Validate() error {
	errs := r.Check()
	if r.HandoffID == "" {
		errs = append(errs, errors.New("handoffId is required"))
	}
	return errors.Join(errs...)
}

// DeclineRequest declines a handoff with a reason (not_appropriate,
// no_capacity, reassign, more_information_needed, other) and words.
type DeclineRequest struct {
	HandoffRequest
	Reason string `json:"reason" schema:"v1/handoff.declined.json#/properties/reason"`
	Detail string `json:"detail" schema:"v1/handoff.declined.json#/properties/detail"`
}

// Validate names what is missing.
func (r *DeclineRequest) Validate() error {
	errs := []error{r.HandoffRequest.Validate()}
	if r.Reason == "" || r.Detail == "" {
		errs = append(errs, errors.New("reason and detail are required"))
	}
	return errors.Join(errs...)
}

// CancelRequest withdraws an offer before it is accepted.
type CancelRequest struct {
	HandoffRequest
	Reason string `json:"reason" schema:"v1/handoff.cancelled.json#/properties/reason"`
}

// Validate names what is missing.
func (r *CancelRequest) Validate() error {
	errs := []error{r.HandoffRequest.Validate()}
	if r.Reason == "" {
		errs = append(errs, errors.New("reason is required"))
	}
	return errors.Join(errs...)
}

// CompleteRequest says the accepted handoff's work is done.
type CompleteRequest struct {
	HandoffRequest
	Outcome string `json:"outcome" schema:"v1/handoff.completed.json#/properties/outcome"`
}

// Validate names what is missing.
func (r *CompleteRequest) Validate() error {
	errs := []error{r.HandoffRequest.Validate()}
	if r.Outcome == "" {
		errs = append(errs, errors.New("outcome is required"))
	}
	return errors.Join(errs...)
}

// common are the commands every agency answers, relative to its prefix.
func (k *Kit) common() []rpc.Command {
	return []rpc.Command{
		rpc.Handle("open", k.Open),
		rpc.Handle("identify", k.Identify),
		rpc.Handle("voice", k.Voice),
		rpc.Handle("note", k.Note),
		rpc.Handle("link", k.Link),
		rpc.Handle("close", k.Close),
		rpc.Handle("handoff.offer", k.Offer),
		rpc.Handle("handoff.acknowledge", k.Acknowledge),
		rpc.Handle("handoff.accept", k.Accept),
		rpc.Handle("handoff.decline", k.Decline),
		rpc.Handle("handoff.cancel", k.Cancel),
		rpc.Handle("handoff.complete", k.Complete),
		rpc.Handle("place.update", k.UpdatePlace),
	}
}

// Commands is every command agency a answers, on crisisbus.<a>.<command>:
// the common ones (open, identify, voice, link, close, handoff.*) and own,
// its own (relative to its prefix). The services serve this list and the
// contract is generated from it; k is not used until a command runs, so a
// zero Kit describes an agency's commands.
func Commands(a events.Agency, k *Kit, own []rpc.Command) []rpc.Command {
	cmds := k.common()
	if a.Health() {
		// Only an agency that holds the clinical record records who else
		// may see it: the haven cannot grant itself the record.
		cmds = append(cmds, rpc.Handle("consent.record", k.RecordConsent))
	}
	return rpc.Under(CommandPrefix(a), a, append(cmds, own...))
}

// PlaceRequest: a place of safety is asked for (by police or the ambulance
// service).
type PlaceRequest struct {
	Base
	events.PlaceOfSafetyRequested
}

// Open opens a new episode owned by this agency.
func (k *Kit) Open(ctx context.Context, req OpenRequest) (OpenResponse, error) {
	outs := []Out{Fact(&events.EpisodeOpened{Channel: req.Channel, Summary: req.Summary, Location: req.Location, AgencyReference: req.Reference})}
	if req.Person != nil {
		outs = append(outs, Fact(req.Person))
	}
	if req.Voice != nil {
		outs = append(outs, Fact(req.Voice))
	}
	if req.Call != nil {
		outs = append(outs, Fact(req.Call))
	}
	if req.Triage != nil {
		outs = append(outs, Fact(req.Triage))
	}
	return k.OpenEpisode(ctx, req.Request, req.Actor, outs)
}

// OpenEpisode opens a new episode with the facts outs, the first of them
// its episode.opened. With a request id (OpenRequest.Request) it opens it
// once: the id names the episode (RequestedEpisode), so the same open sent
// again answers with that episode, Repeated, and records nothing more.
func (k *Kit) OpenEpisode(ctx context.Context, request, actor string, outs []Out) (OpenResponse, error) {
	ep := events.NewEpisodeID()
	if request != "" {
		if err := events.CheckID("request", request); err != nil {
			return OpenResponse{}, err
		}
		ep = RequestedEpisode(k.Agency(), request)
	}
	// Only an agency that worked out this agency's request id can have
	// opened the episode it names: the open is refused, not answered with
	// that agency's episode.
	taken := events.Errorf(events.Conflict, "request %s names an episode another agency opened, not one the %s opened: send the open again with a new request id",
		request, k.Agency().Title())
	var repeated bool
	r, err := k.Do(ctx, ep, actor, func(v *episode.View) ([]Out, error) {
		repeated = v.Opened
		switch {
		case !v.Opened:
			return outs, nil
		case v.OpenedBy != k.Agency():
			return nil, taken
		}
		return nil, nil
	})
	var re *rpc.Error
	if request != "" && errors.As(err, &re) && re.Code == rpc.Forbidden && strings.HasPrefix(re.Message, episode.NoPartMessage) {
		return OpenResponse{}, taken // the record would not show this agency the episode
	}
	if err != nil {
		return OpenResponse{}, err
	}
	return OpenResponse{Episode: ep, Receipt: r, Repeated: repeated}, nil
}

// RequestedEpisode is the id of the episode agency a opens for its
// request id: the agency is part of it, so one agency's request ids never
// name another's episodes.
func RequestedEpisode(a events.Agency, request string) string {
	return record.DeterministicID("open/" + string(a) + "/" + request)
}

// Identify records who the person is.
func (k *Kit) Identify(ctx context.Context, req IdentifyRequest) (Receipt, error) {
	p := req.PersonIdentified
	return k.Record(ctx, req.Episode, req.Actor, Fact(&p))
}

// Voice records the person's own words and needs.
func (k *Kit) Voice(ctx context.Context, req VoiceRequest) (Receipt, error) {
	p := req.PersonVoiceRecorded
	return k.Record(ctx, req.Episode, req.Actor, Fact(&p))
}

// Note records that the person was given a note of what happens next:
// only by the agency holding the episode, which knows what was agreed.
func (k *Kit) Note(ctx context.Context, req NoteRequest) (Receipt, error) {
	n := req.PersonNoteGiven
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if !v.Opened {
			return nil, fmt.Errorf("%w %s", episode.ErrUnknownEpisode, req.Episode)
		}
		if v.Owner != k.Agency() {
			return nil, events.Errorf(events.Conflict, "only the agency holding the episode gives the person a note of what happens next; %s holds episode %s", v.Owner.Title(), req.Episode)
		}
		return []Out{Fact(&n)}, nil
	})
}

// RecordConsent records that the person agreed, or no longer agrees, that
// the safe haven may see their clinical record in this episode. The health
// agency recording it must have a part in the episode: it is the person's
// word to those treating them. Recording the decision already in force
// changes nothing.
func (k *Kit) RecordConsent(ctx context.Context, req ConsentRequest) (Receipt, error) {
	c := req.ConsentRecorded
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if !v.Opened {
			return nil, fmt.Errorf("%w %s", episode.ErrUnknownEpisode, req.Episode)
		}
		if !v.HasPart(k.Agency()) {
			return nil, events.Errorf(events.Forbidden, "the %s has had no part in episode %s: the person's consent is recorded by those treating them", k.Agency().Title(), req.Episode)
		}
		if v.ClinicalTo(c.To) == (c.Decision == "given") {
			return nil, nil
		}
		return []Out{Fact(&c)}, nil
	})
}

// Link records on both episodes that they are the same person.
//
// The agency needs a part in its own episode, not in the other: the other
// is read, and the link recorded on it, for the link's reason (the
// record's disclosure names it), and the link gives no part in it.
func (k *Kit) Link(ctx context.Context, req LinkRequest) (Receipt, error) {
	why := linkReason(req.Reason)
	other, _, err := k.load(ctx, req.OtherEpisode, req.Actor, why)
	if err != nil {
		return Receipt{}, err
	}
	if !other.Opened {
		return Receipt{}, fmt.Errorf("%w %s (the other episode)", episode.ErrUnknownEpisode, req.OtherEpisode)
	}
	r, err := k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if !v.Opened {
			return nil, fmt.Errorf("%w %s", episode.ErrUnknownEpisode, req.Episode)
		}
		if slices.ContainsFunc(v.Links, func(l episode.Link) bool { return l.OtherEpisode == req.OtherEpisode }) {
			return nil, nil
		}
		return []Out{Fact(&events.EpisodeLinked{OtherEpisode: req.OtherEpisode, MatchedOn: req.MatchedOn, Reason: req.Reason})}, nil
	})
	if err != nil || len(r.Events) == 0 {
		return r, err
	}
	back, err := k.do(ctx, req.OtherEpisode, req.Actor, why, func(v *episode.View) ([]Out, error) {
		if slices.ContainsFunc(v.Links, func(l episode.Link) bool { return l.OtherEpisode == req.Episode }) {
			return nil, nil
		}
		return []Out{Fact(&events.EpisodeLinked{OtherEpisode: req.Episode, MatchedOn: req.MatchedOn, Reason: req.Reason},
			events.WithID(record.DeterministicID(r.Events[0]+"/link")))}, nil
	})
	r.Events = append(r.Events, back.Events...)
	return r, err
}

// linkReason is the reason a link reads the other episode for: the link's
// own, on one line and within the record's bound for a reason.
func linkReason(reason string) string {
	why := []rune("linking it as the same person: " + strings.Join(strings.Fields(reason), " "))
	if len(why) > episode.MaxReasonLen {
		why = why[:episode.MaxReasonLen]
	}
	return string(why)
}

// Close closes the episode; only its owner may, with no handoff pending.
func (k *Kit) Close(ctx context.Context, req CloseRequest) (Receipt, error) {
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if err := v.CheckClose(k.Agency()); err != nil {
			return nil, err
		}
		return []Out{Fact(&events.EpisodeClosed{Reason: req.Reason})}, nil
	})
}

// Offer offers the episode to another agency, carrying the summary of
// every fact recorded so far.
func (k *Kit) Offer(ctx context.Context, req OfferRequest) (OfferResponse, error) {
	id := events.NewEpisodeID()
	var facts int
	r, err := k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		outs, err := k.OfferOut(v, id, req.Kind, req.To, req.Reason, req.Urgency)
		if len(outs) > 0 {
			facts = len(outs[0].Data.(*events.HandoffOffered).Summary.Facts)
		}
		return outs, err
	})
	return OfferResponse{HandoffID: id, FactsCarried: facts, Receipt: r}, err
}

// OfferOut checks and builds an offer on the view v, for commands that
// offer as part of a larger decision (the AMHP service referring to the
// helpline as it records "not admitted").
func (k *Kit) OfferOut(v *episode.View, id string, kind events.HandoffKind, to events.Agency, reason, urgency string) ([]Out, error) {
	if err := v.CheckOffer(k.Agency(), to, kind); err != nil {
		return nil, err
	}
	if to == k.Agency() {
		return nil, events.Errorf(events.Invalid, "%s cannot hand off to itself", to.Title())
	}
	return []Out{Fact(&events.HandoffOffered{HandoffID: id, Kind: kind, To: to, Reason: reason, Urgency: urgency, Summary: v.Summary()})}, nil
}

// Acknowledge says the offer was seen (the inbox does this on arrival).
func (k *Kit) Acknowledge(ctx context.Context, req HandoffRequest) (Receipt, error) {
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if h := v.Handoff(req.HandoffID); h != nil && h.To == k.Agency() && h.State == episode.Acknowledged {
			return nil, nil
		}
		if err := v.CheckAcknowledge(req.HandoffID, k.Agency()); err != nil {
			return nil, err
		}
		h := v.Handoff(req.HandoffID)
		return []Out{Fact(&events.HandoffAcknowledged{HandoffID: h.ID}, events.To(h.From))}, nil
	})
}

// Accept accepts a handoff: the agency becomes the episode's one owner.
// Refused if the offer was cancelled, declined or already accepted, or if
// the offering agency no longer owns the episode (a second owner).
func (k *Kit) Accept(ctx context.Context, req HandoffRequest) (Receipt, error) {
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if err := v.CheckAccept(req.HandoffID, k.Agency()); err != nil {
			return nil, err
		}
		h := *v.Handoff(req.HandoffID)
		outs := []Out{Fact(&events.HandoffAccepted{HandoffID: h.ID, AcceptedBy: req.Actor}, events.To(h.From))}
		if k.OnAccept != nil {
			outs = append(outs, k.OnAccept(v, h, req.Actor)...)
		}
		return outs, nil
	})
}

// Decline declines a handoff; the offering agency keeps the episode.
func (k *Kit) Decline(ctx context.Context, req DeclineRequest) (Receipt, error) {
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if err := v.CheckDecline(req.HandoffID, k.Agency()); err != nil {
			return nil, err
		}
		h := v.Handoff(req.HandoffID)
		return []Out{Fact(&events.HandoffDeclined{HandoffID: h.ID, Reason: req.Reason, Detail: req.Detail}, events.To(h.From))}, nil
	})
}

// Cancel withdraws this agency's offer before it is accepted.
func (k *Kit) Cancel(ctx context.Context, req CancelRequest) (Receipt, error) {
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		if err := v.CheckCancel(req.HandoffID, k.Agency()); err != nil {
			return nil, err
		}
		h := v.Handoff(req.HandoffID)
		return []Out{Fact(&events.HandoffCancelled{HandoffID: h.ID, Reason: req.Reason}, events.To(h.To))}, nil
	})
}

// Complete says the work the handoff asked for is done.
func (k *Kit) Complete(ctx context.Context, req CompleteRequest) (Receipt, error) {
	return k.Do(ctx, req.Episode, req.Actor, func(v *episode.View) ([]Out, error) {
		return k.CompleteOut(v, req.HandoffID, req.Outcome)
	})
}

// CompleteOut checks and builds a completion on the view v.
func (k *Kit) CompleteOut(v *episode.View, id, outcome string) ([]Out, error) {
	if err := v.CheckComplete(id, k.Agency()); err != nil {
		return nil, err
	}
	h := v.Handoff(id)
	return []Out{Fact(&events.HandoffCompleted{HandoffID: h.ID, Outcome: outcome}, events.To(h.From))}, nil
}

// Accepted returns the handoff of kind that this agency has accepted and
// not yet completed on v, or nil.
func Accepted(v *episode.View, me events.Agency, kind events.HandoffKind) *episode.Handoff {
	for i := len(v.Handoffs) - 1; i >= 0; i-- {
		h := &v.Handoffs[i]
		if h.To == me && h.Kind == kind && h.State == episode.Accepted {
			return h
		}
	}
	return nil
}

// Ref returns the request's episode and actor (promoted to every request
// that embeds Base).
func (b Base) Ref() Base { return b }

// Based is a request that embeds Base.
type Based interface{ Ref() Base }

// Recorder makes a command that records one fact, data(request), on an open
// episode: for the facts that need no check beyond the contract.
func Recorder[R Based](k *Kit, data func(R) any) func(context.Context, R) (Receipt, error) {
	return func(ctx context.Context, r R) (Receipt, error) {
		b := r.Ref()
		d := data(r)
		// Refused before the episode is read: nothing is disclosed for a
		// command that cannot be recorded.
		if err := k.CheckClinical(d); err != nil {
			return Receipt{}, err
		}
		return k.Record(ctx, b.Episode, b.Actor, Fact(d))
	}
}
