package reports

import (
	"slices"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// An episode's s136 detentions are counted from its facts by the law's own
// reading of them (law.Detention.Apply): the clock service applies the
// same function to the same facts, so the table and the escalations agree
// on when a period started, whether an extension extended it (a second
// one, one after expiry, one at a police station without a
// superintendent's approval do not) and when it ran out.
//
// The reports apply events in any order (Rebuild reads ranges of the
// stream side by side), so an episode keeps its detention facts sorted by
// the time each records and its detentions are worked out again from them
// whenever one is added: a person detained twice in one episode is two
// detentions, each with its own arrival, extension and end (the facts
// from one s136.detained to the next).

// detKind is a kind of detention fact; at one instant, facts apply in
// this order.
type detKind uint8

const (
	factDetained detKind = iota
	factArrived
	factExtended
	factEnded
)

// detFact is one fact of an episode's detentions: no more than the law
// needs (no doctor's name, no reason's words).
type detFact struct {
	at   time.Time
	kind detKind
	// kept: an s136.detained keeping the person where they are.
	kept bool
	// place: an arrival's place of safety.
	place events.PlaceType
	// hours, reasoned, approved: an extension's length, whether its reason
	// and a superintendent's approval are recorded.
	hours              int
	reasoned, approved bool
}

// detCount is what one detention adds to the detention table.
type detCount struct {
	// extended: its lawful extension, counted in extMonth.
	extended bool
	extMonth Month
	// ended: recorded as ended (released, or its assessment completed);
	// measured: its duration dur, counted in month; breached: a 24-hour
	// breach, counted in breachMonth.
	ended       bool
	measured    bool
	dur         time.Duration
	month       Month
	breached    bool
	breachMonth Month
	// due is when its period runs out; a detention not ended is judged
	// against it when a report is run (openBreaches).
	due time.Time
}

// addDetention adds one fact to the episode's detentions and counts them
// again.
func (p *Projection) addDetention(ep *episodeState, f detFact) {
	i, _ := slices.BinarySearchFunc(ep.dets, f, func(a, b detFact) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.kind) - int(b.kind)
	})
	ep.dets = slices.Insert(ep.dets, i, f)
	p.countDetentions(ep)
}

// countDetentions takes back what the episode's detentions counted and
// counts what its facts give now.
func (p *Projection) countDetentions(ep *episodeState) {
	for _, c := range ep.counted {
		p.uncount(c)
	}
	ep.counted = detentions(ep.dets, ep.counted[:0])
	open := false
	for _, c := range ep.counted {
		p.count(c)
		open = open || !c.ended
	}
	if open {
		p.open[ep] = struct{}{}
	} else {
		delete(p.open, ep)
	}
}

func (p *Projection) count(c detCount) {
	if c.extended {
		p.det(c.extMonth).extensions++
	}
	if c.measured {
		dm := p.det(c.month)
		dm.durations = append(dm.durations, c.dur)
	}
	if c.breached {
		p.det(c.breachMonth).breaches++
	}
}

func (p *Projection) uncount(c detCount) {
	if c.extended {
		p.det(c.extMonth).extensions--
	}
	if c.measured {
		dm := p.det(c.month)
		if i := slices.Index(dm.durations, c.dur); i >= 0 {
			dm.durations = slices.Delete(dm.durations, i, i+1)
		}
	}
	if c.breached {
		p.det(c.breachMonth).breaches--
	}
}

// detentions are the detentions facts (in time order) give, appended to
// out: only those whose period started (an arrival at a place of safety,
// or the decision to keep the person where they are).
func detentions(facts []detFact, out []detCount) []detCount {
	var d law.Detention
	var extAt time.Time
	done := func() {
		start, ok := d.Start()
		if !ok {
			return
		}
		permitted := law.PermittedPeriod + d.Extension
		c := detCount{due: start.Add(permitted), ended: !d.EndedAt.IsZero()}
		if d.Extension > 0 {
			c.extended, c.extMonth = true, MonthOf(extAt)
		}
		// An end before the period started (released on the way) is no
		// stay at a place of safety to measure.
		if c.ended && !d.EndedAt.Before(start) {
			c.measured, c.dur, c.month = true, d.EndedAt.Sub(start), MonthOf(d.EndedAt)
			c.breached, c.breachMonth = c.dur > permitted, MonthOf(c.due)
		}
		out = append(out, c)
	}
	for _, f := range facts {
		var data any
		switch f.kind {
		case factDetained:
			if !d.DetainedAt.IsZero() && !d.DetainedAt.Equal(f.at) {
				done() // detained again: the detention before is whole
				extAt = time.Time{}
			}
			data = &events.S136Detained{DetainedAt: f.at, KeptWhereTheyAre: f.kept}
		case factArrived:
			data = &events.PlaceOfSafetyArrived{ArrivedAt: f.at, PlaceType: f.place}
		case factExtended:
			x := &events.S136Extended{Hours: f.hours, ExtendedAt: f.at}
			if f.reasoned {
				x.Reason = "recorded"
			}
			if f.approved {
				x.SuperintendentApproval = "recorded"
			}
			data = x
		case factEnded:
			data = &events.S136Released{ReleasedAt: f.at}
		}
		before := d.Extension
		if err := d.Apply(data); err == nil && d.Extension != before {
			extAt = f.at
		}
	}
	done()
	return out
}

// openBreaches counts, by the month the period ran out, the detentions not
// recorded as ended whose permitted period had run out by asOf.
func (p *Projection) openBreaches(asOf time.Time) map[Month]int {
	out := map[Month]int{}
	for ep := range p.open {
		for _, c := range ep.counted {
			if !c.ended && c.due.Before(asOf) {
				out[MonthOf(c.due)]++
			}
		}
	}
	return out
}
