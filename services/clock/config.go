package clock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
)

// Timing is how one kind of clock warns and escalates.
type Timing struct {
	// WarnBefore is how long before the due time the warning is published
	// (0: no warning).
	WarnBefore time.Duration
	// RepeatEvery is how often a breach is published again until the clock
	// is resolved (0: the breach is published once): the first two repeats
	// RepeatEvery apart, then each interval twice the one before, up to a
	// day (see repeatAfter).
	RepeatEvery time.Duration
}

// HandoffTimes are the breach times of one kind of handoff, measured from
// the offer.
type HandoffTimes struct {
	Acknowledge time.Duration // time to acknowledge (the receiver has seen it)
	Accept      time.Duration // time to accept (ownership passes)
	Timing
}

// FollowUpTimes is the follow-up schedule of a person referred to the
// helpline after an assessment without detention.
type FollowUpTimes struct {
	// Contacts are when each call is due, measured from the referral:
	// contact 1 at Contacts[0], and so on. The helpline may move a call with
	// followup.contact_scheduled.
	Contacts []time.Duration
	// Grace is how long after a call is due it counts as missed: the
	// clock's breach is at the due time plus Grace, and its warning
	// WarnBefore that (default 2h: a call due at 10:00 is overdue by 10:00,
	// warned at 11:00, missed at 12:00).
	Grace time.Duration
	Timing
}

// Config configures the clock service. The zero value of every field takes
// its default.
type Config struct {
	// Now is the time (default time.Now). Tests pass a fake clock.
	Now func() time.Time
	// Tick is how often, in real time, the scanner looks for due clocks
	// (default 100ms). It bounds how late a warning or breach is published.
	Tick time.Duration
	// Workers publish due events in parallel (default 8).
	Workers int
	// Bucket is the KV bucket holding the clocks (default "crisis_clocks").
	Bucket string
	// Replicas of the bucket (1 embedded, 3 in a cluster).
	Replicas int
	// Durable is the name of the service's consumer (default "clock").
	Durable string
	// MaxLag is how long, in real time, the facts the consumer handles may
	// stand still before the scanner judges a late clock (one whose due
	// time had passed when its facts arrived: history being imported)
	// without waiting for facts that would stop it (default 2s). A live
	// clock is never held back: when the consumer is behind, the scanner
	// reads the clock's episode directly before judging it.
	MaxLag time.Duration
	// MakeBucket, if set, makes the bucket again when it is lost (deleted
	// on the server, or lost with its store): provisioning, which only the
	// admin user may do. Without it the service waits, saying so, for the
	// admin to provision the bucket. Either way the service then rebuilds
	// the clocks from the event stream (rebuild.go).
	MakeBucket func(ctx context.Context) error

	// S136 is the s136 permitted period clock (default: warn 2h before,
	// repeat the breach every hour until release or the assessment concludes).
	S136 Timing
	// Welfare is the 30-minute welfare check clock of a person held in a
	// police station (default: warn 5 minutes before, repeat every 10 minutes).
	Welfare Timing
	// Handoffs holds the breach times of each kind of handoff; kinds not
	// given take DefaultHandoffTimes.
	Handoffs map[events.HandoffKind]HandoffTimes
	// FollowUp is the 4-day follow-up schedule (default: one call a day for
	// 4 days, warn an hour before, repeat a missed call's breach every hour).
	FollowUp FollowUpTimes
}

// DefaultHandoffTimes are the breach times of each kind of handoff unless
// configured. An s136 assessment request should be accepted within the hour
// in which Right Care, Right Person expects the handover to health.
var DefaultHandoffTimes = map[events.HandoffKind]HandoffTimes{
	events.TriageAdvice:  {Acknowledge: 5 * time.Minute, Accept: 15 * time.Minute, Timing: Timing{WarnBefore: 2 * time.Minute, RepeatEvery: 5 * time.Minute}},
	events.MHAAssessment: {Acknowledge: 15 * time.Minute, Accept: time.Hour, Timing: Timing{WarnBefore: 10 * time.Minute, RepeatEvery: 15 * time.Minute}},
	events.SPoAReferral:  {Acknowledge: 30 * time.Minute, Accept: 4 * time.Hour, Timing: Timing{WarnBefore: 15 * time.Minute, RepeatEvery: 30 * time.Minute}},
	events.FollowUp:      {Acknowledge: time.Hour, Accept: 12 * time.Hour, Timing: Timing{WarnBefore: 30 * time.Minute, RepeatEvery: time.Hour}},
	// A person referred to a safe haven is often at its door (brought by police).
	events.SafeHavenReferral: {Acknowledge: 5 * time.Minute, Accept: 15 * time.Minute, Timing: Timing{WarnBefore: 2 * time.Minute, RepeatEvery: 5 * time.Minute}},
}

func (c *Config) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Tick == 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Bucket == "" {
		c.Bucket = rights.ClocksBucket
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Durable == "" {
		c.Durable = rights.ClockDurable
	}
	if c.MaxLag == 0 {
		c.MaxLag = 2 * time.Second
	}
	if c.S136 == (Timing{}) {
		c.S136 = Timing{WarnBefore: 2 * time.Hour, RepeatEvery: time.Hour}
	}
	if c.Welfare == (Timing{}) {
		c.Welfare = Timing{WarnBefore: 5 * time.Minute, RepeatEvery: 10 * time.Minute}
	}
	h := make(map[events.HandoffKind]HandoffTimes, len(DefaultHandoffTimes))
	for k, v := range DefaultHandoffTimes {
		h[k] = v
	}
	for k, v := range c.Handoffs {
		h[k] = v
	}
	c.Handoffs = h
	if len(c.FollowUp.Contacts) == 0 {
		c.FollowUp.Contacts = []time.Duration{24 * time.Hour, 48 * time.Hour, 72 * time.Hour, 96 * time.Hour}
	}
	if c.FollowUp.Grace == 0 {
		c.FollowUp.Grace = 2 * time.Hour
	}
	if c.FollowUp.Timing == (Timing{}) {
		c.FollowUp.Timing = Timing{WarnBefore: time.Hour, RepeatEvery: time.Hour}
	}
}

// Validate names every setting that is wrong.
func (c Config) Validate() error {
	var errs []error
	neg := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative (is %s)", name, d))
		}
	}
	neg("Tick", c.Tick)
	neg("MaxLag", c.MaxLag)
	neg("FollowUp.Grace", c.FollowUp.Grace)
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers must not be negative (is %d)", c.Workers))
	}
	for name, t := range map[string]Timing{"S136": c.S136, "Welfare": c.Welfare, "FollowUp": c.FollowUp.Timing} {
		neg(name+".WarnBefore", t.WarnBefore)
		neg(name+".RepeatEvery", t.RepeatEvery)
	}
	for k, h := range c.Handoffs {
		if h.Acknowledge <= 0 || h.Accept <= 0 {
			errs = append(errs, fmt.Errorf("handoff %s: times to acknowledge and accept must be positive (are %s, %s)", k, h.Acknowledge, h.Accept))
		}
		if h.Accept < h.Acknowledge {
			errs = append(errs, fmt.Errorf("handoff %s: time to accept %s is before time to acknowledge %s", k, h.Accept, h.Acknowledge))
		}
		if h.WarnBefore >= h.Acknowledge && h.Acknowledge > 0 {
			errs = append(errs, fmt.Errorf("handoff %s: a warning %s before a %s time to acknowledge would come with the offer", k, h.WarnBefore, h.Acknowledge))
		}
		neg("handoff "+string(k)+" WarnBefore", h.WarnBefore)
		neg("handoff "+string(k)+" RepeatEvery", h.RepeatEvery)
	}
	if len(c.FollowUp.Contacts) > 20 {
		errs = append(errs, fmt.Errorf("FollowUp.Contacts: at most 20 calls (the contract numbers them 1 to 20), got %d", len(c.FollowUp.Contacts)))
	}
	for i, d := range c.FollowUp.Contacts {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("FollowUp.Contacts[%d] must be positive (is %s)", i, d))
		}
	}
	return errors.Join(errs...)
}
