package clock

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// Clock is one running (or stopped) clock as stored in the KV bucket under
// its key. The stored record is the truth; the scanner's in-memory index is
// only a hint of when to look at it next.
type Clock struct {
	Kind    events.ClockKind `json:"kind"`
	Episode string           `json:"episode"`
	Ref     string           `json:"ref"`   // the handoff id, the episode, or the follow-up contact
	Owner   events.Agency    `json:"owner"` // the agency that must act
	DueAt   time.Time        `json:"dueAt,omitzero"`
	Timing  Timing           `json:"timing"`
	// Fired state for DueAt: a warning and breaches already published.
	Warned       bool      `json:"warned,omitempty"`
	Breaches     int       `json:"breaches,omitempty"`
	NextBreachAt time.Time `json:"nextBreachAt,omitzero"`
	// Left is the fired state of due times the clock has moved away from
	// (the latest maxLeft), so one that comes back goes on where it was.
	Left       []Fired   `json:"left,omitempty"`
	StoppedAt  time.Time `json:"stoppedAt,omitzero"`
	StopReason string    `json:"stopReason,omitempty"`
	Cause      string    `json:"cause,omitempty"` // id of the event that set the due time
	// Trace is that event's traceparent: the warnings and breaches continue
	// the episode's trace, as children of the span that set the due time.
	Trace string `json:"trace,omitempty"`
	// Late: what is next due on the clock was already past when the clock
	// last changed, so its facts are history (an import, or a fact entered
	// long after it happened), and facts that stop it may still be on their
	// way into the stream. The scanner judges a late clock only once the
	// facts handled have passed its due time (see Service.judge).
	Late bool `json:"late,omitempty"`

	// s136 and welfare clocks: the detention as the law sees it.
	Detention  *law.Detention `json:"detention,omitempty"`
	ExtendedAt time.Time      `json:"extendedAt,omitzero"`
	// EarlierEnded: the detention follows an earlier one in the same
	// episode, which ended then (see ofEarlierDetention).
	EarlierEnded time.Time `json:"earlierEnded,omitzero"`
	LastCheck    time.Time `json:"lastCheck,omitzero"` // welfare: last check or arrival
	// handoff clocks
	HandoffKind events.HandoffKind `json:"handoffKind,omitempty"`
	// follow-up contact clocks
	Contact int `json:"contact,omitempty"`
}

// Running reports whether the clock has a due time and has not stopped.
func (c *Clock) Running() bool { return !c.DueAt.IsZero() && c.StoppedAt.IsZero() }

// Fired is what a clock has published for one due time.
type Fired struct {
	DueAt        time.Time `json:"dueAt"`
	Warned       bool      `json:"warned,omitempty"`
	Breaches     int       `json:"breaches,omitempty"`
	NextBreachAt time.Time `json:"nextBreachAt,omitzero"`
}

// maxLeft is how many due times a clock remembers having fired for.
const maxLeft = 8

// setDue moves the due time; a new due time gets its own warning and
// breaches. A due time the clock has already fired for and comes back to
// keeps what was fired: the episode's facts are applied again before a
// clock is judged, and may walk it through its earlier due times (a call
// rescheduled twice) before bringing it back; starting that due time again
// would publish its breaches with the numbers, and so the ids, already
// used, and the stream would drop them as duplicates.
func (c *Clock) setDue(t time.Time, cause, trace string) bool {
	if t.Equal(c.DueAt) {
		return false
	}
	if c.Warned || c.Breaches > 0 {
		c.Left = slices.DeleteFunc(c.Left, func(f Fired) bool { return f.DueAt.Equal(c.DueAt) })
		c.Left = append(c.Left, Fired{c.DueAt, c.Warned, c.Breaches, c.NextBreachAt})
		if n := len(c.Left) - maxLeft; n > 0 {
			c.Left = slices.Delete(c.Left, 0, n)
		}
	}
	f := Fired{DueAt: t, NextBreachAt: t}
	if i := slices.IndexFunc(c.Left, func(f Fired) bool { return f.DueAt.Equal(t) }); i >= 0 {
		f = c.Left[i]
		c.Left = slices.Delete(c.Left, i, i+1)
	}
	c.DueAt, c.Warned, c.Breaches, c.NextBreachAt, c.Cause, c.Trace = f.DueAt, f.Warned, f.Breaches, f.NextBreachAt, cause, trace
	return true
}

// fired notes that the clock published, at at, the warning (breach
// false) or the breach numbered repeat for the due time due, as advance
// would have noted it: a clock rebuilt from the event stream reads back
// what it had published. It reports whether anything changed.
func (c *Clock) fired(due time.Time, breach bool, repeat int, at time.Time) bool {
	if c.Kind == "" {
		return false
	}
	f, i := Fired{DueAt: due, NextBreachAt: due}, -1
	if c.DueAt.Equal(due) {
		f = Fired{c.DueAt, c.Warned, c.Breaches, c.NextBreachAt}
	} else if i = slices.IndexFunc(c.Left, func(f Fired) bool { return f.DueAt.Equal(due) }); i >= 0 {
		f = c.Left[i]
	}
	changed := !f.Warned
	f.Warned = true
	if breach && repeat >= f.Breaches {
		f.Breaches, changed = repeat+1, true
		if r := c.Timing.RepeatEvery; r > 0 {
			f.NextBreachAt = due.Add(repeatAfter(r, at.Sub(due)))
		}
	}
	switch {
	case !changed:
	case c.DueAt.Equal(due):
		c.Warned, c.Breaches, c.NextBreachAt = f.Warned, f.Breaches, f.NextBreachAt
	case i >= 0:
		c.Left[i] = f
	default:
		c.Left = append(c.Left, f)
		if n := len(c.Left) - maxLeft; n > 0 {
			c.Left = slices.Delete(c.Left, 0, n)
		}
	}
	return changed
}

// ofEarlierDetention reports whether an s136 fact dated t (a detention,
// extension, release or concluded assessment) is of an earlier detention
// in the episode than the clock's: dated before this one began. Read again
// with the episode's facts before the clock is judged, it leaves the clock
// alone: it neither walks the clock back through the earlier detention nor
// extends or ends this one.
func (c *Clock) ofEarlierDetention(t time.Time) bool {
	return !c.EarlierEnded.IsZero() && c.Detention != nil && t.Before(c.Detention.DetainedAt)
}

// arrivalOfEarlierDetention is ofEarlierDetention for an arrival at a
// place of safety: one before the earlier detention ended. An arrival
// recorded a little before its own detention's time still starts its
// clock: a detention is never left without one.
func (c *Clock) arrivalOfEarlierDetention(t time.Time) bool {
	return !c.EarlierEnded.IsZero() && t.Before(c.EarlierEnded)
}

// stop stops a running clock; it reports whether anything changed.
func (c *Clock) stop(at time.Time, reason string) bool {
	if !c.StoppedAt.IsZero() {
		return false
	}
	if at.IsZero() {
		at = time.Unix(0, 0).UTC()
	}
	c.StoppedAt, c.StopReason = at, reason
	return true
}

// next is when the scanner must next look at the clock.
func (c *Clock) next() (time.Time, bool) {
	if !c.Running() {
		return time.Time{}, false
	}
	switch {
	case !c.Warned && c.Timing.WarnBefore > 0:
		return c.DueAt.Add(-c.Timing.WarnBefore), true
	case c.Breaches == 0:
		return c.DueAt, true
	case c.Timing.RepeatEvery > 0:
		return c.NextBreachAt, true
	}
	return time.Time{}, false
}

// advance works out what is due at now and marks it fired: at most one
// warning or one breach. A warning found after the due time is skipped (the
// breach says more). Breaches repeat on the grid of repeatAfter from DueAt;
// after an outage the next repeat is the next grid point, not a burst of
// the missed ones.
func (c *Clock) advance(now time.Time) (*events.ClockWarning, *events.ClockBreached) {
	if !c.Running() {
		return nil, nil
	}
	if !now.Before(c.DueAt) {
		c.Warned = true
		if c.Breaches > 0 && (c.Timing.RepeatEvery <= 0 || now.Before(c.NextBreachAt)) {
			return nil, nil
		}
		b := &events.ClockBreached{Clock: c.Kind, Ref: c.Ref, Owner: c.Owner, DueAt: c.DueAt,
			SecondsOver: int(now.Sub(c.DueAt) / time.Second), Repeat: c.Breaches}
		c.Breaches++
		if r := c.Timing.RepeatEvery; r > 0 {
			c.NextBreachAt = c.DueAt.Add(repeatAfter(r, now.Sub(c.DueAt)))
		}
		return nil, b
	}
	if !c.Warned && c.Timing.WarnBefore > 0 && !now.Before(c.DueAt.Add(-c.Timing.WarnBefore)) {
		c.Warned = true
		return &events.ClockWarning{Clock: c.Kind, Ref: c.Ref, Owner: c.Owner, DueAt: c.DueAt,
			SecondsLeft: int(c.DueAt.Sub(now) / time.Second)}, nil
	}
	return nil, nil
}

// How a breach repeats while nobody resolves it: the first steadyRepeats
// repeats come every RepeatEvery, then each interval is twice the one
// before, up to maxRepeatInterval (or RepeatEvery, if that is longer). An
// owner who answers within the first intervals sees the escalation as
// configured; a clock forgotten for good is still reported, once a day,
// without putting hundreds of facts a day on its episode's timeline, which
// every later command, view and judgement of the episode reads.
const (
	steadyRepeats     = 2
	maxRepeatInterval = 24 * time.Hour
)

// repeatAfter is the first point of the repeats' grid after a breach's
// time over (how long since the due time), measured from the due time, for
// a clock repeating every r: with r = 5m, 5m 10m 20m 40m ... 1280m 2560m,
// then a day apart.
func repeatAfter(r, over time.Duration) time.Duration {
	ceiling := max(maxRepeatInterval, r)
	at, step := time.Duration(0), r
	for k := 1; ; k++ {
		if k > steadyRepeats {
			step = min(2*step, ceiling)
		}
		if step == ceiling && at+step <= over { // a day apart from here on
			at += (over - at) / step * step
		}
		at += step
		if at > over {
			return at
		}
	}
}

// idSpace is the UUIDv5 namespace of clock event ids.
var idSpace = uuid.MustParse("6f1c2f0e-8a0b-5d43-9f5e-1c2b3a4d5e6f")

// eventID is the deterministic id of a clock event: the same clock, due
// time, kind and repeat always give the same id, so a publish repeated after
// a crash is dropped by the stream's duplicate window.
func eventID(key, kind string, due time.Time, repeat int) string {
	return uuid.NewSHA1(idSpace, []byte(key+"|"+kind+"|"+strconv.FormatInt(due.UnixNano(), 10)+"|"+strconv.Itoa(repeat))).String()
}

// Keys: <episode>.<clock>[.<ref>...], so one episode's clocks are <episode>.>.
func s136Key(ep string) string    { return ep + ".s136" }
func welfareKey(ep string) string { return ep + ".welfare" }
func ackKey(ep, handoff string) string {
	return ep + ".handoff." + handoff + ".acknowledge"
}
func acceptKey(ep, handoff string) string { return ep + ".handoff." + handoff + ".accept" }
func contactKey(ep string, n int) string  { return fmt.Sprintf("%s.followup.%d", ep, n) }
func contactRef(ep string, n int) string  { return fmt.Sprintf("%s/followup/contact-%d", ep, n) }

// alarmKey is the key of the clock of episode ep a warning or breach of
// that kind and ref was published for.
func alarmKey(ep string, kind events.ClockKind, ref string) (string, bool) {
	switch kind {
	case events.S136Clock:
		return s136Key(ep), true
	case events.WelfareCheckClock:
		return welfareKey(ep), true
	case events.HandoffAckClock:
		return ackKey(ep, ref), ref != ""
	case events.HandoffAcceptClock:
		return acceptKey(ep, ref), ref != ""
	case events.FollowUpClock:
		n, err := strconv.Atoi(strings.TrimPrefix(ref, ep+"/followup/contact-"))
		return contactKey(ep, n), err == nil && contactRef(ep, n) == ref
	}
	return "", false
}
