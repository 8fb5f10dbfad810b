package clock

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/law"
)

// consumed lists the event types that start, move and stop clocks.
var consumed = []any{
	&events.S136Detained{}, &events.PlaceOfSafetyArrived{}, &events.S136Extended{},
	&events.S136WelfareChecked{}, &events.S136Released{}, &events.AssessmentCompleted{},
	&events.HandoffOffered{}, &events.HandoffAcknowledged{}, &events.HandoffAccepted{},
	&events.HandoffDeclined{}, &events.HandoffCancelled{}, &events.HandoffCompleted{},
	&events.FollowupContactScheduled{}, &events.FollowupContactAttempted{}, &events.FollowupCompleted{},
	&events.EpisodeClosed{},
}

// Consumes reports whether the clock service consumes events of spec s:
// those that start, move or stop clocks (its consumer's filters).
func Consumes(s events.Spec) bool { return consumes(s.Type()) }

// consumes reports whether events of type t start, move or stop clocks.
func consumes(t string) bool { return consumedTypes()[t] }

// consumedTypes is the set of the CloudEvents types of consumed.
var consumedTypes = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, d := range consumed {
		spec, err := events.SpecOf(d)
		if err != nil {
			panic(err) // the catalogue is compiled in: a broken build
		}
		m[spec.Type()] = true
	}
	return m
})

func filters() []string {
	var f []string
	for _, d := range consumed {
		spec, err := events.SpecOf(d)
		if err != nil {
			panic(err) // the catalogue is compiled in: a broken build
		}
		f = append(f, events.TypeSubjects(spec)...)
	}
	return f
}

// handle applies one event to the clocks it concerns. Every change is
// computed from the event's own facts, so handling an event again changes
// nothing.
func (s *Service) handle(ctx context.Context, e events.Event) error {
	v, err := e.Decode()
	if err != nil {
		return natsbus.Permanent(err)
	}
	ep := e.Subject
	log := s.log.With(append(tracing.Fields(ctx), zap.String("episode", ep), zap.String("event_id", e.ID), zap.String("agency", string(e.Source)))...)
	switch d := v.(type) {
	case *events.S136Detained:
		return s.detained(ctx, log, e, d)
	case *events.PlaceOfSafetyArrived:
		return s.arrived(ctx, log, e, d)
	case *events.S136Extended:
		return s.extended(ctx, log, e, d)
	case *events.S136WelfareChecked:
		return s.update(ctx, welfareKey(ep), func(c *Clock) bool {
			if !c.Running() || !d.CheckedAt.After(c.LastCheck) {
				return false
			}
			c.LastCheck = d.CheckedAt
			return c.setDue(law.WelfareCheckDue(d.CheckedAt), e.ID, e.TraceParent)
		})
	case *events.S136Released:
		return s.detentionEnded(ctx, ep, d.ReleasedAt, "released: "+d.Reason)
	case *events.AssessmentCompleted:
		return s.detentionEnded(ctx, ep, d.CompletedAt, "assessment concluded: "+d.Outcome)
	case *events.HandoffOffered:
		return s.offered(ctx, e, d)
	case *events.HandoffAcknowledged:
		return s.stop(ctx, ackKey(ep, d.HandoffID), e.Time, "acknowledged")
	case *events.HandoffAccepted:
		return s.handoffResolved(ctx, ep, d.HandoffID, e.Time, "accepted by "+d.AcceptedBy, false)
	case *events.HandoffDeclined:
		return s.handoffResolved(ctx, ep, d.HandoffID, e.Time, "declined: "+d.Reason, true)
	case *events.HandoffCancelled:
		return s.handoffResolved(ctx, ep, d.HandoffID, e.Time, "cancelled: "+d.Reason, true)
	case *events.HandoffCompleted:
		return s.handoffResolved(ctx, ep, d.HandoffID, e.Time, "completed", false)
	case *events.FollowupContactScheduled:
		return s.update(ctx, contactKey(ep, d.ContactNumber), func(c *Clock) bool {
			if c.Kind == "" {
				*c = s.contactClock(ep, d.ContactNumber)
			}
			if !c.StoppedAt.IsZero() {
				return false
			}
			return c.setDue(d.DueAt.Add(s.cfg.FollowUp.Grace), e.ID, e.TraceParent)
		})
	case *events.FollowupContactAttempted:
		return s.update(ctx, contactKey(ep, d.ContactNumber), func(c *Clock) bool {
			if c.Kind == "" { // attempted before it was due on any schedule: record it as done
				*c = s.contactClock(ep, d.ContactNumber)
			}
			return c.stop(e.Time, "contact attempted: "+d.Outcome)
		})
	case *events.FollowupCompleted:
		return s.stopAll(ctx, ep, ep+".followup.*", e.Time, "follow-up completed")
	case *events.EpisodeClosed:
		return s.stopAll(ctx, ep, ep+".>", e.Time, "episode closed: "+d.Reason)
	}
	return nil
}

func (s *Service) detained(ctx context.Context, log *zap.Logger, e events.Event, d *events.S136Detained) error {
	if err := law.CheckDetentionLocation(d.LocationType); err != nil {
		unlawful(ctx, log, "unlawful s136 detention recorded", zap.Error(err))
	}
	return s.update(ctx, s136Key(e.Subject), func(c *Clock) bool {
		switch {
		case c.Kind == "":
			*c = s.s136Clock(e.Subject)
		case !c.StoppedAt.IsZero() && d.DetainedAt.After(c.StoppedAt):
			// A new detention in the same episode: a clock of its own.
			// Facts of the earlier one, read again with the episode before
			// the clock is judged, leave it alone (see ofEarlierDetention).
			ended := c.StoppedAt
			*c = s.s136Clock(e.Subject)
			c.EarlierEnded = ended
		case c.ofEarlierDetention(d.DetainedAt):
			return false
		case c.Running() && !c.Detention.DetainedAt.IsZero() && d.DetainedAt.After(c.Detention.DetainedAt):
			// Detained again while the clock runs (only an import can say
			// so: the police service refuses it): the new detention is the
			// one the law now runs, as the episode record shows it.
			*c = s.s136Clock(e.Subject)
			c.EarlierEnded = d.DetainedAt
		}
		if !c.StoppedAt.IsZero() || (c.Detention.DetainedAt.Equal(d.DetainedAt) && c.Detention.KeptWhereTheyAre == d.KeptWhereTheyAre) {
			return false
		}
		_ = c.Detention.Apply(d) // a detention is never refused: it is a fact
		s.setS136Due(c, e.ID, e.TraceParent)
		return true
	})
}

func (s *Service) arrived(ctx context.Context, log *zap.Logger, e events.Event, d *events.PlaceOfSafetyArrived) error {
	var det law.Detention
	running, earlier := false, false
	err := s.update(ctx, s136Key(e.Subject), func(c *Clock) bool {
		if c.Kind == "" {
			*c = s.s136Clock(e.Subject)
		}
		if earlier = c.arrivalOfEarlierDetention(d.ArrivedAt); earlier {
			return false
		}
		if !c.StoppedAt.IsZero() {
			det = *c.Detention
			return false
		}
		before := *c.Detention
		_ = c.Detention.Apply(d)
		changed := *c.Detention != before
		s.setS136Due(c, e.ID, e.TraceParent)
		det, running = *c.Detention, true
		return changed
	})
	if err != nil || earlier {
		return err
	}
	if !det.DetainedAt.IsZero() {
		if err := law.CheckPlaceOfSafety(det.AgeYears, d.PlaceType, d.PoliceStation); err != nil {
			unlawful(ctx, log, "unlawful place of safety recorded", zap.String("place", d.PlaceName), zap.Error(err))
		}
	}
	// Welfare checks every 30 minutes while held in a police station.
	return s.update(ctx, welfareKey(e.Subject), func(c *Clock) bool {
		if !running || !law.NeedsWelfareChecks(d.PlaceType) {
			if c.Running() {
				return c.stop(d.ArrivedAt, "moved to "+string(d.PlaceType))
			}
			return false
		}
		if c.Running() {
			return false
		}
		*c = Clock{Kind: events.WelfareCheckClock, Episode: e.Subject, Ref: e.Subject, Owner: events.Police,
			Timing: s.cfg.Welfare, LastCheck: d.ArrivedAt}
		c.setDue(law.WelfareCheckDue(d.ArrivedAt), e.ID, e.TraceParent)
		return true
	})
}

func (s *Service) extended(ctx context.Context, log *zap.Logger, e events.Event, d *events.S136Extended) error {
	return s.update(ctx, s136Key(e.Subject), func(c *Clock) bool {
		if c.Kind == "" {
			*c = s.s136Clock(e.Subject)
		}
		if c.ExtendedAt.Equal(d.ExtendedAt) || c.ofEarlierDetention(d.ExtendedAt) {
			return false // this extension is applied already, or was an earlier detention's
		}
		// The contract's doctor is the registered medical practitioner
		// responsible for the examination; the AMHP service checked the role
		// when it recorded the extension. The clock checks the rest again,
		// because a clock moved unlawfully is worse than one not moved.
		if err := c.Detention.Apply(d); err != nil {
			unlawful(ctx, log, "s136 extension not applied: the clock keeps the permitted period", zap.Error(err))
			return false
		}
		c.ExtendedAt = d.ExtendedAt
		s.setS136Due(c, e.ID, e.TraceParent)
		return true
	})
}

func (s *Service) detentionEnded(ctx context.Context, ep string, at time.Time, reason string) error {
	earlier := false
	if err := s.update(ctx, s136Key(ep), func(c *Clock) bool {
		if earlier = c.Kind != "" && c.ofEarlierDetention(at); earlier {
			return false // the earlier detention's end: this one runs on
		}
		if c.Kind == "" || !c.StoppedAt.IsZero() {
			return false
		}
		if c.Detention.EndedAt.IsZero() {
			c.Detention.EndedAt = at
		}
		return c.stop(at, reason)
	}); err != nil || earlier {
		return err
	}
	return s.stop(ctx, welfareKey(ep), at, reason)
}

func (s *Service) offered(ctx context.Context, e events.Event, d *events.HandoffOffered) error {
	t, ok := s.cfg.Handoffs[d.Kind]
	if !ok {
		s.log.Error("handoff of a kind with no breach times configured: no clock kept",
			append(tracing.EventFields(e), zap.String("episode", e.Subject), zap.String("event_id", e.ID), zap.String("kind", string(d.Kind)))...)
		return nil
	}
	for _, k := range []struct {
		key  string
		kind events.ClockKind
		in   time.Duration
	}{{ackKey(e.Subject, d.HandoffID), events.HandoffAckClock, t.Acknowledge}, {acceptKey(e.Subject, d.HandoffID), events.HandoffAcceptClock, t.Accept}} {
		if err := s.update(ctx, k.key, func(c *Clock) bool {
			if c.Kind != "" {
				return false
			}
			*c = Clock{Kind: k.kind, Episode: e.Subject, Ref: d.HandoffID, Owner: d.To, Timing: t.Timing, HandoffKind: d.Kind}
			c.setDue(e.Time.Add(k.in), e.ID, e.TraceParent)
			return true
		}); err != nil {
			return err
		}
	}
	if d.Kind != events.FollowUp {
		return nil
	}
	// A referral to the helpline starts the follow-up calls, due from the
	// referral whether or not the helpline has accepted yet.
	for i, off := range s.cfg.FollowUp.Contacts {
		n := i + 1
		if err := s.update(ctx, contactKey(e.Subject, n), func(c *Clock) bool {
			if c.Kind != "" {
				return false
			}
			*c = s.contactClock(e.Subject, n)
			c.setDue(e.Time.Add(off+s.cfg.FollowUp.Grace), e.ID, e.TraceParent)
			return true
		}); err != nil {
			return err
		}
	}
	return nil
}

// handoffResolved stops a handoff's clocks; a follow-up referral declined or
// withdrawn also stops its calls (the offering agency owns the person again).
func (s *Service) handoffResolved(ctx context.Context, ep, handoff string, at time.Time, reason string, withdrawn bool) error {
	if err := s.stop(ctx, ackKey(ep, handoff), at, reason); err != nil {
		return err
	}
	var kind events.HandoffKind
	if err := s.update(ctx, acceptKey(ep, handoff), func(c *Clock) bool {
		kind = c.HandoffKind
		return c.Kind != "" && c.stop(at, reason)
	}); err != nil {
		return err
	}
	if withdrawn && kind == events.FollowUp {
		return s.stopAll(ctx, ep, ep+".followup.*", at, "follow-up referral "+reason)
	}
	return nil
}

func (s *Service) stop(ctx context.Context, key string, at time.Time, reason string) error {
	return s.update(ctx, key, func(c *Clock) bool { return c.Kind != "" && c.stop(at, reason) })
}

// stopAll stops the episode's clocks whose keys match filter.
func (s *Service) stopAll(ctx context.Context, episode, filter string, at time.Time, reason string) error {
	keys, err := s.keysOf(ctx, episode, filter)
	if err != nil {
		return fmt.Errorf("list clocks %s: %w", filter, err)
	}
	for _, k := range keys {
		if err := s.stop(ctx, k, at, reason); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) s136Clock(ep string) Clock {
	return Clock{Kind: events.S136Clock, Episode: ep, Ref: ep, Owner: events.AMHP, Timing: s.cfg.S136, Detention: &law.Detention{}}
}

func (s *Service) contactClock(ep string, n int) Clock {
	return Clock{Kind: events.FollowUpClock, Episode: ep, Ref: contactRef(ep, n), Owner: events.Crisisline,
		Timing: s.cfg.FollowUp.Timing, Contact: n}
}

// setS136Due sets the due time to the end of the permitted period, once it
// has started.
func (s *Service) setS136Due(c *Clock, cause, trace string) {
	if end, ok := c.Detention.Expiry(); ok {
		c.setDue(end, cause, trace)
	}
}

// replayKey marks, in a context, the facts of an episode read again before
// its clocks are judged (catchUpEpisode).
type replayKey struct{}

// unlawful tells the operator of a fact the Act forbids, once: when it is
// handled as it arrives, not each time the episode's facts are read again
// before a clock is judged (then it is a debug line).
func unlawful(ctx context.Context, log *zap.Logger, msg string, fields ...zap.Field) {
	if ctx.Value(replayKey{}) != nil {
		log.Debug(msg, fields...)
		return
	}
	log.Error(msg, fields...)
}
