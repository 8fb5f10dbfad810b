package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/nats-io/nats.go/jetstream"
)

// An agency's service decides each command on the episode as it stands,
// and agency users may not read the event stream: what a police user can
// reach, the police service can reach, and police may not read clinical
// facts. So the service asks the record for the episode's state on its own
// subject, crisisbus.record.<agency>.state: the record reads the episode
// from the stream at that moment (not its projection, which may lag) and
// answers with the fields on the agency's allowlist and the stream
// sequence to publish against (natsbus.ExpectEpisodeSeq).
//
// Reading the state is a read of the person's record, so it is recorded as
// a disclosure like any view: by the agency's service for the person who
// acted, once per DisclosureWindow (repeats in the window are the same
// event id, which the server drops), so a busy episode's audit does not
// grow with every command.

// StateSubject is where agency a's service reads an episode to decide.
func StateSubject(a events.Agency) string { return "crisisbus.record." + string(a) + ".state" }

// StateRequest asks for an episode's state on behalf of actor (who acted;
// empty for the service's own work, such as acknowledging an offer).
//
// An episode the agency has no part in (View.HasPart) is refused with 403,
// as a view is, unless Reason says why the agency needs it (one line of at
// most episode.MaxReasonLen characters), recorded as the disclosure's
// purpose: a command of an agency with no part in an episode records
// nothing on it (linking two episodes as the same person gives the link's
// reason for the other agency's). An episode with nothing recorded is
// answered empty, so a command may open it.
type StateRequest struct {
	Episode string `json:"episode"`
	Actor   string `json:"actor,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Validate names what is missing.
func (r *StateRequest) Validate() error {
	var errs []error
	if r.Episode == "" {
		errs = append(errs, errors.New("episode is required"))
	}
	if r.Reason != "" {
		errs = append(errs, checkText("reason", "why an agency with no part in the episode reads it", r.Reason, episode.MaxReasonLen))
	}
	return errors.Join(errs...)
}

// StateResponse is the episode as the agency may know it, and the stream
// sequence of its last event (0: nothing recorded yet).
type StateResponse struct {
	Episode  string          `json:"episode"`
	Sequence uint64          `json:"sequence"`
	Fields   []string        `json:"fields"`
	View     json.RawMessage `json:"view"`
}

// AppendJSON writes the answer with its view as encoded (rpc.Encoded).
func (r StateResponse) AppendJSON(b []byte) ([]byte, error) {
	raw := r.View
	r.View = nil
	return rpc.AppendRawLast(b, r, raw)
}

// StatePurpose is the purpose of a state read's disclosure.
const StatePurpose = "to decide a command on the episode"

func (r *Record) state(ctx context.Context, a events.Agency, req StateRequest) (StateResponse, error) {
	viewer := a.Title()
	if req.Actor != "" {
		viewer += ", for " + req.Actor
	}
	if r := []rune(viewer); len(r) > MaxViewerLen {
		viewer = string(r[:MaxViewerLen])
	}
	for attempt := 0; attempt < maxStateAttempts; attempt++ {
		var resp StateResponse
		var traceID string
		hasPart := false
		err := r.fresh.read(ctx, r.cfg.Bus, req.Episode, func(e *freshEpisode) error {
			hasPart = e.v.HasPart(a)
			if e.seq > 0 && !hasPart && req.Reason == "" {
				return nil // refused below, nothing cut
			}
			raw, fields, err := e.cut(a)
			if err != nil {
				return events.Errorf(events.Invalid, "%v", err)
			}
			resp, traceID = StateResponse{Episode: req.Episode, Sequence: e.seq, Fields: fields, View: raw}, e.v.TraceID
			return nil
		})
		if err != nil {
			return StateResponse{}, err
		}
		if resp.Episode == "" {
			return StateResponse{}, events.Errorf(events.Forbidden, "%s (the %s has no part in episode %s: its commands record nothing on it)",
				episode.NoPartMessage, a.Title(), req.Episode)
		}
		seq, fields := resp.Sequence, resp.Fields
		if seq == 0 {
			return resp, nil // nothing recorded, nothing disclosed
		}
		purpose := StatePurpose
		if !hasPart {
			purpose = episode.NoPartPurpose + req.Reason
		}
		id := disclosureID(req.Episode, viewer, a, purpose, fields, r.cfg.Now())
		if r.stored.has(id) {
			return resp, nil // disclosed already in this window: a repeat is dropped
		}
		e, err := events.New(events.Record, req.Episode, &events.RecordDisclosed{Viewer: viewer, Agency: a, Purpose: purpose, Fields: fields},
			events.At(r.cfg.Now()), events.By(viewer), events.Disclosure(purpose, disclosureLegalBase), events.WithID(id),
			disclosureTrace(ctx, req.Episode, traceID))
		if err != nil {
			return StateResponse{}, err
		}
		// Published only if nothing else landed since the read, so the
		// sequence returned is still the episode's last.
		ack, err := r.cfg.Bus.Publish(ctx, e, natsbus.ExpectEpisodeSeq(seq))
		if errors.Is(err, natsbus.ErrConflict) {
			continue
		}
		if err != nil {
			return StateResponse{}, fmt.Errorf("record the disclosure: %w", err)
		}
		r.stored.add(id)
		if !ack.Duplicate {
			resp.Sequence = ack.Sequence
			r.cfg.Log.Debug("disclosed state", append(tracing.EventFields(e), zap.String("episode", req.Episode), zap.String("event_id", e.ID), zap.String("agency", string(a)))...)
		}
		return resp, nil
	}
	return StateResponse{}, events.Errorf(events.Conflict, "episode %s kept changing while it was read; try again", req.Episode)
}

const maxStateAttempts = 10

// RecordLoader asks the record for the state, over NATS request-reply.
type RecordLoader struct {
	Bus *natsbus.Bus // connected as the agency
}

// Load asks the record for the episode's state as the bus's agency may know it.
func (l RecordLoader) Load(ctx context.Context, id, actor string) (episode.View, uint64, error) {
	return l.LoadGiving(ctx, id, actor, "")
}

// LoadGiving is Load of an episode the agency may have no part in, saying
// why it needs it (StateRequest.Reason; "" as Load).
func (l RecordLoader) LoadGiving(ctx context.Context, id, actor, reason string) (episode.View, uint64, error) {
	// The view is decoded straight from the answer, not kept as bytes and
	// decoded again: it is the largest part, and grows with the episode.
	resp := stateAnswer{View: episode.New(id)}
	if err := rpc.CallInto(ctx, l.Bus.Conn(), StateSubject(l.Bus.Agency()), StateRequest{Episode: id, Actor: actor, Reason: reason}, &resp); err != nil {
		return episode.View{}, 0, err
	}
	return resp.View, resp.Sequence, nil
}

// stateAnswer is a StateResponse as the agencies' services read it.
type stateAnswer struct {
	Sequence uint64       `json:"sequence"`
	View     episode.View `json:"view"`
}

// An agency's service gives some facts ids worked out from what they
// answer (an acknowledgement's from its handoff's id), and the stream drops
// a repeat by its id whoever stored the first: another agency knowing the
// handoff could store a message of its own under the id first, and the
// acknowledgement would be dropped. The agency's user may not read the
// stream to see whose the stored message is, so its service asks the
// record, on crisisbus.record.<agency>.repeat, whether the message at the
// sequence its publish was answered with is on the subject it published
// to. Only its own subjects may be asked about: the answer says nothing of
// any other agency's messages.

// RepeatSubject is where agency a's service asks whether a repeat was its own.
func RepeatSubject(a events.Agency) string { return "crisisbus.record." + string(a) + ".repeat" }

// RepeatRequest asks whether the message the stream holds at Sequence is on
// Subject, one of the agency's own (crisis.<agency>.…): a publish to
// Subject, with EventID as its message id, was answered as a repeat of it.
type RepeatRequest struct {
	Subject  string `json:"subject"`
	EventID  string `json:"eventId"`
	Sequence uint64 `json:"sequence" minimum:"1"`
}

// Validate names what is missing.
func (r *RepeatRequest) Validate() error {
	var errs []error
	if r.Subject == "" {
		errs = append(errs, errors.New("subject is required"))
	}
	if r.EventID == "" {
		errs = append(errs, errors.New("eventId is required (the message id the publish carried: its event's id)"))
	} else if err := events.CheckID("eventId", r.EventID); err != nil {
		errs = append(errs, err)
	}
	if r.Sequence == 0 {
		errs = append(errs, errors.New("sequence is required (the stream sequence the publish was answered with)"))
	}
	return errors.Join(errs...)
}

// RepeatResponse says whether the agency's fact is stored: the message at
// the sequence is on the subject asked about, or the event is on that
// subject already, published again under a fresh message id when its id
// was taken before (StoredAt says where). If not, the publish's id was
// taken and the fact is not stored yet.
type RepeatResponse struct {
	Own      bool   `json:"own"`
	StoredAt uint64 `json:"storedAt,omitempty"`
}

// repeat answers whether the message at req.Sequence is on req.Subject, a
// subject of a's own, or the event req.EventID is on it already, and
// nothing else: not where the message is if not there, nor whether it
// holds the id asked about. The operator is warned
// of an id taken only when the message at the sequence holds the very id
// the agency says it published; anything else is an agency's user asking
// about a message its service never published.
func (r *Record) repeat(ctx context.Context, a events.Agency, req RepeatRequest) (RepeatResponse, error) {
	// No message is on a subject that is not one (a wildcard, an empty
	// token, a space, more than MaxSubjectLen): refused without repeating it.
	if err := events.CheckSubject("subject", req.Subject); err != nil {
		return RepeatResponse{}, events.Errorf(events.Invalid, "%v", err)
	}
	if slices.ContainsFunc(strings.Split(req.Subject, "."), func(t string) bool { return t == "*" || t == ">" }) {
		return RepeatResponse{}, events.Errorf(events.Invalid, "subject must be the one a fact was published on, not a wildcard")
	}
	if own := "crisis." + string(a) + "."; !strings.HasPrefix(req.Subject, own) {
		return RepeatResponse{}, events.Errorf(events.Invalid, "subject %q is not one of the %s's own (%s…): only those may be asked about", req.Subject, a.Title(), own)
	}
	stored, id, err := r.cfg.Bus.StoredAt(ctx, req.Sequence)
	if ae := (*jetstream.APIError)(nil); errors.As(err, &ae) && ae.ErrorCode == jetstream.JSErrCodeMessageNotFound {
		stored, id, err = "", "", nil // nothing there now: not the agency's fact
	}
	if err != nil {
		return RepeatResponse{}, fmt.Errorf("read the message at %d: %w", req.Sequence, err)
	}
	if stored == req.Subject {
		return RepeatResponse{Own: true, StoredAt: req.Sequence}, nil
	}
	// Published again before under a fresh message id (the id was taken):
	// the fact is stored, and a publish of it again (a tool run twice)
	// stores nothing more.
	at, err := r.cfg.Bus.HeldOn(ctx, req.Subject, req.EventID)
	if err != nil {
		return RepeatResponse{}, err
	}
	if at != 0 {
		return RepeatResponse{Own: true, StoredAt: at}, nil
	}
	if id == req.EventID {
		r.cfg.Log.Warn("a fact's id was taken by a message on another subject; its agency stores it again",
			zap.String("agency", string(a)), zap.String("subject", req.Subject), zap.String("event_id", req.EventID),
			zap.Uint64("taken_at", req.Sequence), zap.String("taken_by", stored))
	} else {
		r.cfg.Log.Info("a repeat check asked about a message that does not hold the id named; answered not the agency's",
			zap.String("agency", string(a)), zap.Uint64("sequence", req.Sequence))
	}
	return RepeatResponse{}, nil
}

// RepeatChecker is the natsbus.RepeatCheck of an agency's bus: the record
// answers whether a publish answered as a repeat was the agency's own.
func RepeatChecker(b *natsbus.Bus) natsbus.RepeatCheck {
	return func(ctx context.Context, subject, id string, seq uint64) (uint64, error) {
		resp, err := rpc.Call[RepeatRequest, RepeatResponse](ctx, b.Conn(), RepeatSubject(b.Agency()), RepeatRequest{Subject: subject, EventID: id, Sequence: seq})
		if err != nil || !resp.Own {
			return 0, err
		}
		return resp.StoredAt, nil
	}
}
