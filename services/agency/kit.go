// Package agency is what the five agency services share: deciding on a
// current view of the episode and publishing the facts with an expected
// episode sequence (so no one else's fact slips in between the check and
// the publish), the handoff protocol's commands, an inbox consumer that
// acknowledges offers, and the `micro` service every agency answers on.
//
// Each agency's own commands live in its own package (services/police,
// services/amhp, ...); this package knows no agency's business.
package agency

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// Kit is one agency's connection to the pathway.
type Kit struct {
	Bus *natsbus.Bus // connected as the agency's own NATS user
	Log *zap.Logger
	Now func() time.Time // injectable, so tests run days in milliseconds

	// Loader reads an episode as the agency may know it (default: ask the
	// episode record, record.RecordLoader; the agency's user may not read
	// the event stream itself).
	Loader episode.Loader

	// OnAccept, when set, adds facts to an acceptance (the helpline schedules
	// its follow-up calls as it accepts a follow-up referral).
	OnAccept func(v *episode.View, h episode.Handoff, actor string) []Out

	// ClinicalElsewhere, for an agency whose view never shows the clinical
	// record (police), says where a health-only field of event type spec
	// is recorded instead, for the refusal (see CheckClinical).
	ClinicalElsewhere func(spec events.Spec, field string) string

	// Places is the directory of places, for the places the agency
	// provides (default places.Default).
	Places *places.Directory
}

// CheckClinical refuses, with a 400 naming the field and where it is
// recorded instead, event data holding a health-only field
// (schemas.AudienceKeyword) when the kit's agency may not see the clinical
// record (episode.SeesClinical): clinical text is never recorded under,
// nor sent back through, police credentials.
func (k *Kit) CheckClinical(data any) error {
	if episode.SeesClinical(k.Agency()) {
		return nil
	}
	fields, err := events.ClinicalIn(data)
	if err != nil || len(fields) == 0 {
		return err
	}
	spec, err := events.SpecOf(data)
	if err != nil {
		return err
	}
	says := make([]string, len(fields))
	for i, f := range fields {
		instead := ""
		if k.ClinicalElsewhere != nil {
			instead = k.ClinicalElsewhere(spec, f)
		}
		if instead == "" {
			instead = "a health agency records it"
		}
		says[i] = fmt.Sprintf("%s is clinical, and the %s does not record it (its view of the record never shows it): %s", f, strings.ToLower(k.Agency().Title()), instead)
	}
	return events.Errorf(events.Invalid, "%s", strings.Join(says, "; "))
}

// Agency is who the kit acts for.
func (k *Kit) Agency() events.Agency { return k.Bus.Agency() }

// Time is the kit's current time (Now, or the wall clock), in UTC.
func (k *Kit) Time() time.Time {
	if k.Now == nil {
		return time.Now().UTC()
	}
	return k.Now().UTC()
}

func (k *Kit) log() *zap.Logger {
	if k.Log == nil {
		return zap.NewNop()
	}
	return k.Log
}

// load reads the episode to decide on. reason, when the agency may have no
// part in the episode (linking it as the same person), is why it needs it;
// without one the record refuses an episode the agency has no part in
// (record.StateRequest).
func (k *Kit) load(ctx context.Context, ep, actor, reason string) (episode.View, uint64, error) {
	if k.Loader == nil {
		return record.RecordLoader{Bus: k.Bus}.LoadGiving(ctx, ep, actor, reason)
	}
	return k.Loader.Load(ctx, ep, actor)
}

// Out is one fact a command decided to publish.
type Out struct {
	Data any
	Opts []events.Option
}

// Fact is shorthand for an Out.
func Fact(data any, opts ...events.Option) Out { return Out{Data: data, Opts: opts} }

// Receipt says what a command stored.
type Receipt struct {
	Episode  string   `json:"episode"`
	Events   []string `json:"events"`   // the ids of the events published, in order
	Sequence uint64   `json:"sequence"` // the stream sequence of the last one
}

// Decide looks at the current view of the episode and returns the facts to
// publish, or a refusal. It may be called more than once (when the episode
// changed meanwhile), so it must not have side effects.
type Decide func(v *episode.View) ([]Out, error)

// maxAttempts bounds how often a command re-reads a busy episode.
const maxAttempts = 10

// Do runs a command on an episode: read the episode's state (Loader),
// decide, and publish the facts decided, all or none (natsbus.PublishAtomic),
// only if the episode is still as it was read (else read and decide again).
// The facts after the first get ids derived from it.
//
// The command is one span of the episode's trace (the view's TraceID; a
// new episode's command starts the trace, or continues the caller's, see
// rpc.Endpoint): every fact it publishes carries that span as its parent.
func (k *Kit) Do(ctx context.Context, ep, actor string, decide Decide) (Receipt, error) {
	return k.do(ctx, ep, actor, "", decide)
}

// DoGiving is Do on an episode the agency may have no part in, saying why
// it reads it (the record's disclosure names the reason); decide must
// refuse what the agency may not do there.
func (k *Kit) DoGiving(ctx context.Context, ep, actor, reason string, decide Decide) (Receipt, error) {
	return k.do(ctx, ep, actor, reason, decide)
}

// do is Do, reading the episode with a reason (see load).
func (k *Kit) do(ctx context.Context, ep, actor, reason string, decide Decide) (_ Receipt, err error) {
	if err := events.CheckID("episode", ep); err != nil {
		return Receipt{}, err // a 400: the episode id cannot go into a subject
	}
	var span *tracing.Span
	defer func() { span.End(err) }()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		v, seq, err := k.load(ctx, ep, actor, reason)
		if err != nil {
			return Receipt{}, err
		}
		if span == nil {
			ctx, span = tracing.Start(ctx, "crisisbus-"+string(k.Agency()), "", ep, v.TraceID)
		}
		outs, err := decide(&v)
		if err != nil {
			return Receipt{}, err
		}
		r, err := k.publish(ctx, ep, actor, seq, outs)
		if errors.Is(err, natsbus.ErrConflict) {
			k.log().Debug("episode changed while deciding; deciding again", append(tracing.Fields(ctx), zap.String("episode", ep), zap.Int("attempt", attempt))...)
			continue
		}
		return r, err
	}
	return Receipt{}, events.Errorf(events.Conflict, "episode %s kept changing while %s decided; try again", ep, k.Agency().Title())
}

func (k *Kit) publish(ctx context.Context, ep, actor string, seq uint64, outs []Out) (Receipt, error) {
	r := Receipt{Episode: ep, Events: []string{}}
	if len(outs) == 0 {
		return r, nil
	}
	// Build every fact; PublishAtomic checks them all against the
	// contract, as published (with the command's trace), before it sends
	// any, so a command is refused whole rather than half stored.
	evs := make([]events.Event, len(outs))
	for i, o := range outs {
		if err := k.CheckClinical(o.Data); err != nil {
			return r, err
		}
		opts := []events.Option{events.At(k.Time())}
		if actor != "" {
			opts = append(opts, events.By(actor))
		}
		if i > 0 {
			opts = append(opts, events.WithID(record.DeterministicID(evs[0].ID+"/"+strconv.Itoa(i))))
		}
		e, err := events.New(k.Agency(), ep, o.Data, append(opts, o.Opts...)...)
		if err != nil {
			return r, refused(err)
		}
		evs[i] = e
	}
	// All the command's facts are stored, or none (PublishAtomic), and
	// only if the episode is still as it was read.
	ack, err := k.Bus.PublishAtomic(ctx, evs, natsbus.ExpectEpisodeSeq(seq))
	err = refused(err)
	if errors.Is(err, natsbus.ErrAlreadyHeld) {
		return r, events.Errorf(events.Conflict, "episode %s: this command was not recorded now (%v); look at the episode and try again", ep, err)
	}
	if err != nil {
		return r, err
	}
	for _, e := range evs {
		k.log().Info("recorded", append(tracing.Fields(ctx), zap.String("episode", ep), zap.String("event_id", e.ID), zap.String("type", e.Type),
			zap.String("agency", string(k.Agency())), zap.Bool("duplicate", ack.Duplicate))...)
		r.Events = append(r.Events, e.ID)
	}
	r.Sequence = ack.Sequence
	return r, nil
}

// Record publishes facts that need no check beyond an open episode.
func (k *Kit) Record(ctx context.Context, ep, actor string, outs ...Out) (Receipt, error) {
	return k.Do(ctx, ep, actor, func(v *episode.View) ([]Out, error) {
		if err := Recordable(v, ep); err != nil {
			return nil, err
		}
		return outs, nil
	})
}

// refused gives a fact the contract refuses its kind: 400 what was asked
// is malformed, 403 the contract names who may publish it (a refusal in
// its words, not a fault of crisisbus's). Other errors are as they are.
func refused(err error) error {
	switch {
	case errors.Is(err, events.ErrInvalid), errors.Is(err, events.ErrUnknownType):
		return events.Errorf(events.Invalid, "%v", err)
	case errors.Is(err, events.ErrNotAuthor):
		return events.Errorf(events.Forbidden, "%v", err)
	}
	return err
}

// Recordable refuses a fact on episode ep unknown to the record, or closed.
func Recordable(v *episode.View, ep string) error {
	if !v.Opened {
		return fmt.Errorf("%w %s", episode.ErrUnknownEpisode, ep)
	}
	if v.Closed {
		return fmt.Errorf("%w (%s)", episode.ErrClosed, v.ClosedReason)
	}
	return nil
}

// Service is a running agency service: its inbox consumer and its API.
type Service struct {
	svc micro.Service
	sub *natsbus.Subscription
}

// Stop stops the API and the inbox.
func (s *Service) Stop() {
	if s.svc != nil {
		_ = s.svc.Stop()
	}
	if s.sub != nil {
		s.sub.Stop()
	}
}

// Serve starts the agency's inbox consumer and its `micro` service
// crisisbus-<agency>, answering on crisisbus.<agency>.<command>: the common
// commands (open, identify, voice, link, close, handoff.*) and own, the
// agency's own (see Commands).
func (k *Kit) Serve(ctx context.Context, description string, onInbox InboxHook, own []rpc.Command) (*Service, error) {
	if k.Log == nil {
		k.Log = zap.NewNop()
	}
	// Its user may not read the stream: the record says whether a publish
	// answered as a repeat was the agency's own (natsbus.RepeatCheck).
	k.Bus.CheckRepeatsWith(record.RepeatChecker(k.Bus))
	s := &Service{}
	var err error
	if s.sub, err = k.Inbox(ctx, onInbox); err != nil {
		return nil, err
	}
	a := string(k.Agency())
	s.svc, err = micro.AddService(k.Bus.Conn(), micro.Config{Name: "crisisbus-" + a, Version: "1.0.0", Description: description})
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("%s service: %w", a, err)
	}
	if err := rpc.Serve(ctx, k.Log, s.svc, Commands(k.Agency(), k, own)); err != nil {
		s.Stop()
		return nil, err
	}
	// Started means answering: the server holds every endpoint's
	// subscription before Serve returns, so a first request finds them.
	if err := k.Bus.Conn().FlushTimeout(10 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%s service: %w", a, err)
	}
	return s, nil
}

// CommandPrefix is the subject prefix of an agency's commands.
func CommandPrefix(a events.Agency) string { return "crisisbus." + string(a) }

// Subject is the subject of one of an agency's commands, e.g. Subject(events.Police, "s136.detain").
func Subject(a events.Agency, command string) string { return CommandPrefix(a) + "." + command }

// InboxHook is called for each event addressed to the agency, after the
// kit has acknowledged an offer. It must be idempotent.
type InboxHook func(ctx context.Context, e events.Event) error

// Inbox runs the agency's durable inbox consumer (<agency>-inbox, on
// crisis.*.*.*.<agency>): it acknowledges every handoff offered to the
// agency as soon as it arrives, so the offering agency sees it was received.
func (k *Kit) Inbox(ctx context.Context, hook InboxHook) (*natsbus.Subscription, error) {
	me := k.Agency()
	return k.Bus.Consume(ctx, natsbus.ConsumerConfig{Durable: rights.InboxDurable(me), Filters: []string{events.InboxSubjects(me)},
		Backoff: []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second}},
		func(ctx context.Context, e events.Event) error {
			var offer events.HandoffOffered
			if e.DecodeInto(&offer) == nil {
				if err := k.acknowledge(ctx, e, offer); err != nil {
					return err
				}
			}
			if hook != nil {
				return hook(ctx, e)
			}
			return nil
		})
}

// NotYetRead is the error of an inbox handler whose read of the episode
// does not yet hold the handoff whose offer it is handling: the read came
// from a copy of the stream behind the one that delivered the offer (a
// cluster's replica catching up after a restart). Answering "nothing to do"
// would drop the offer between two desks; the error has the offer
// delivered again, and the next read holds it.
func NotYetRead(offer events.Event, handoffID string) error {
	return events.Errorf(events.Unavailable, "episode %s as read does not yet hold handoff %s, whose offer is being handled; reading it again", offer.Subject, handoffID)
}

func (k *Kit) acknowledge(ctx context.Context, e events.Event, offer events.HandoffOffered) error {
	me := k.Agency()
	_, err := k.Do(ctx, e.Subject, "", func(v *episode.View) ([]Out, error) {
		h := v.Handoff(offer.HandoffID)
		if h == nil {
			return nil, NotYetRead(e, offer.HandoffID)
		}
		if h.State != episode.Offered {
			return nil, nil // already acknowledged, answered, or withdrawn: nothing to do
		}
		if err := v.CheckAcknowledge(offer.HandoffID, me); err != nil {
			return nil, nil
		}
		return []Out{Fact(&events.HandoffAcknowledged{HandoffID: offer.HandoffID}, events.To(h.From), events.CausedBy(e),
			events.By(me.Title()+" inbox"), events.WithID(record.DeterministicID("ack/"+offer.HandoffID)))}, nil
	})
	if err != nil {
		return fmt.Errorf("acknowledge handoff %s: %w", offer.HandoffID, err)
	}
	k.log().Info("acknowledged", append(tracing.Fields(ctx), zap.String("episode", e.Subject), zap.String("event_id", e.ID), zap.String("agency", string(me)), zap.String("handoff", offer.HandoffID))...)
	return nil
}
