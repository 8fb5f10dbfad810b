package reports

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/law"
)

// Types are the event types the reports count; a replay reads the whole
// stream and passes over every other type. (Asking the server to filter by
// these types made it about twice as slow per message as reading
// everything, measured with crisisbus reportbench.)
var Types = []string{
	"assessment.completed", "assessment.delayed",
	"street_triage.dispatched", "street_triage.outcome",
	"s136.detained", "place_of_safety.arrived", "s136.extended", "s136.released",
	"handoff.offered", "followup.contact_attempted", "followup.escalated", "followup.completed",
	"haven.arrived", "haven.left",
	"episode.opened", "handoff.accepted",
}

// counted holds the CloudEvents types of Types.
var counted = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range Types {
		spec, ok := events.Lookup(events.TypePrefix + name + ".v1")
		if !ok {
			panic("reports count an event type the catalogue does not have: " + name)
		}
		m[spec.Type()] = true
	}
	return m
}()

// Counts reports whether the reports count events of spec s.
func Counts(s events.Spec) bool { return counted[s.Type()] }

// Projection holds the counts every report is drawn from. It is built only
// by applying stored events in stream order (Apply), so it can always be
// rebuilt by replaying the stream and is updated one event at a time as the
// stream grows. It is safe for concurrent use.
type Projection struct {
	mu      sync.RWMutex
	last    uint64 // last stream sequence applied: a replayed event is applied once
	applied int
	skipped []Skip
	// ids are the event ids counted. The stream drops a repeated id only
	// within its duplicate window; an event loaded again after that is
	// stored twice but counted once.
	ids        map[uuid.UUID]struct{}
	duplicates int

	s136      map[Month]map[string]int // assessment outcome -> count
	referrals map[Month]int
	avoided   map[Month]int
	detention map[Month]*detentionMonth
	delays    map[Month]map[string]int // cause -> count
	followup  map[Month]*[4]int        // referred, contacted, completed, escalated
	places    map[Month]map[events.PlaceType]int
	under18   map[Month]int
	u18Police map[Month]int
	forbidden map[Month]int // arrivals at a place the Act forbids for the person (law.CheckPlaceOfSafety)
	// cells counts arrivals at a police station by the reason recorded
	// (events.PoliceStationReasons; "" when none was: published directly,
	// or before the reason was asked).
	cells    map[Month]map[string]int
	havens   map[Month]map[havenCount]int
	contacts map[Month]*[contactRows]int // police contacts by how they ended (contactDetained...)
	episodes map[uuid.UUID]*episodeState
	// open holds the detentions whose start is known and whose end is not:
	// a report counts one as a breach when its period ran out before the
	// report's time (Range.AsOf).
	open map[*episodeState]struct{}
}

// Skip is a stored message the projection could not read, with the reason.
type Skip struct {
	Seq    uint64
	Reason string
}

type detentionMonth struct {
	durations  []time.Duration // of detentions that ended in the month
	extensions int
	breaches   int
}

// episodeState is what one episode contributes across events. Whatever
// order its events are applied in, the counts come out the same: a figure
// that depends on several events is moved when a later-applied event
// changes it.
type episodeState struct {
	// dets are the facts of its s136 detentions, in time order, and
	// counted what they add to the detention table now (detention.go).
	dets       []detFact
	counted    []detCount
	age        int // from s136.detained; -1 until known
	arrivals   []*arrival
	contacted  first
	completed  first
	escalated  first
	haven      string     // the safe haven of the episode's first arrival; "" until known
	havenLefts []havenOut // visits' ends, counted once the haven is known
	contact    contactState
}

// contactState is what decides how a police contact ended: the facts that
// choose its row of the contacts report, and the row it is counted in.
// A police safe haven referral and the haven's acceptance are matched by
// handoff id, whichever is applied first; once the episode has a detention
// or a haven, no referral can change its row and none is kept.
type contactState struct {
	policeAt  time.Time // the earliest episode.opened by police; zero: none (yet)
	detained  bool      // an s136.detained
	haven     bool      // taken to a safe haven: brought by police, or a police referral accepted
	triage    bool      // a street_triage.outcome with s136Avoided
	counted   bool      // counted in contacts[month][row]
	month     Month
	row       int
	referrals []string // police safe haven referrals (handoff ids) not yet known accepted
	accepts   []string // the haven's acceptances addressed to police whose offer is not yet applied
}

// The contacts report's rows, in order of precedence: a contact ends in the
// first that its facts allow.
const (
	contactDetained = iota
	contactHaven
	contactTriage
	contactOther
	contactRows
)

// havenCount is one cell of the safe haven report: a haven and what is
// counted (how people came, or how visits ended).
type havenCount struct{ haven, what string }

// havenOut is a visit's end: its month and outcome.
type havenOut struct {
	month   Month
	outcome string
}

// first is the earliest time something happened to an episode.
type first struct {
	set bool
	at  time.Time
}

type arrival struct {
	month     Month
	police    bool
	place     events.PlaceType
	cond      *events.PoliceStationConditions
	forbidden bool // counted in forbidden
}

// Follow-up columns.
const (
	fuReferred = iota
	fuContacted
	fuCompleted
	fuEscalated
)

// NewProjection returns an empty projection.
func NewProjection() *Projection { return newProjection(0) }

// newProjection is an empty projection with room for the ids of n events.
func newProjection(n int) *Projection {
	return &Projection{
		s136: map[Month]map[string]int{}, referrals: map[Month]int{}, avoided: map[Month]int{},
		detention: map[Month]*detentionMonth{}, delays: map[Month]map[string]int{},
		followup: map[Month]*[4]int{}, places: map[Month]map[events.PlaceType]int{},
		under18: map[Month]int{}, u18Police: map[Month]int{}, forbidden: map[Month]int{}, episodes: map[uuid.UUID]*episodeState{},
		havens: map[Month]map[havenCount]int{}, cells: map[Month]map[string]int{},
		contacts: map[Month]*[contactRows]int{},
		open:     map[*episodeState]struct{}{},
		ids:      make(map[uuid.UUID]struct{}, n),
	}
}

// envelope is the part of a stored event the reports read: one decode per
// event, fields of every type they count side by side (unused ones stay
// zero). The json tags say which member each field is; decode reads them.
type envelope struct {
	ID       string        `json:"id"`
	Source   events.Agency `json:"source"`
	Type     string        `json:"type"`
	Subject  string        `json:"subject"`
	Time     time.Time     `json:"time"`
	ToAgency events.Agency `json:"toagency"`
	episode  uuid.UUID     // Subject, parsed
	Data     struct {
		Outcome                string                          `json:"outcome"`
		CompletedAt            time.Time                       `json:"completedAt"`
		Cause                  string                          `json:"cause"`
		S136Avoided            bool                            `json:"s136Avoided"`
		DetainedAt             time.Time                       `json:"detainedAt"`
		AgeYears               *int                            `json:"ageYears"`
		KeptWhereTheyAre       bool                            `json:"keptWhereTheyAre"`
		ArrivedAt              time.Time                       `json:"arrivedAt"`
		PlaceType              events.PlaceType                `json:"placeType"`
		PoliceStation          *events.PoliceStationConditions `json:"policeStation"`
		Hours                  int                             `json:"hours"`
		ExtendedAt             time.Time                       `json:"extendedAt"`
		ReleasedAt             time.Time                       `json:"releasedAt"`
		Kind                   events.HandoffKind              `json:"kind"`
		How                    string                          `json:"how"`
		Haven                  string                          `json:"haven"`
		Taken                  bool                            `json:"taken"`
		LeftAt                 time.Time                       `json:"leftAt"`
		HandoffID              string                          `json:"handoffId"`
		Reason                 string                          `json:"reason"`
		SuperintendentApproval string                          `json:"superintendentApproval"`
	} `json:"data"`
}

// Last is the stream sequence of the last event applied.
func (p *Projection) Last() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.last
}

// Applied is how many events of the counted types the projection has applied.
func (p *Projection) Applied() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.applied
}

// Duplicates is how many stored events repeated the id of one already
// counted (and were not counted again).
func (p *Projection) Duplicates() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.duplicates
}

// Skipped lists stored messages that could not be read.
func (p *Projection) Skipped() []Skip {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]Skip(nil), p.skipped...)
}

// Apply counts one stored event. Events at or before the last sequence
// applied are ignored, so replaying over a live projection is harmless, and
// an event whose id was already counted is counted once. A
// message that does not decode, or whose subject does not match its
// envelope, is recorded in Skipped rather than counted.
func (p *Projection) Apply(s natsbus.Stored) { p.apply1(s, true) }

// apply1 applies s; in order, it skips a sequence already passed. Rebuild
// applies disjoint ranges of the stream side by side (ordered false): the
// counts do not depend on the order events are applied in.
func (p *Projection) apply1(s natsbus.Stored, ordered bool) {
	var e envelope
	var id uuid.UUID
	err := decode(s.Raw, &e)
	if err == errNotCounted {
		if !ordered {
			return // Rebuild sets the last sequence once every range is read
		}
		p.mu.Lock()
		p.last = max(p.last, s.Seq)
		p.mu.Unlock()
		return
	}
	if err == nil {
		id, err = uuid.Parse(e.ID)
	}
	if err == nil {
		e.episode, err = uuid.Parse(e.Subject)
	}
	if err == nil {
		var subj string
		subj, err = events.Subject(events.Event{ID: e.ID, Source: e.Source, Type: e.Type, Subject: e.Subject, ToAgency: e.ToAgency})
		if err == nil && subj != s.Subject {
			err = fmt.Errorf("published on %s but its envelope belongs on %s", s.Subject, subj)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ordered && s.Seq != 0 && s.Seq <= p.last {
		return
	}
	p.last = max(p.last, s.Seq)
	if err != nil {
		p.skipped = append(p.skipped, Skip{Seq: s.Seq, Reason: err.Error()})
		return
	}
	if _, dup := p.ids[id]; dup {
		p.duplicates++
		return
	}
	p.ids[id] = struct{}{}
	p.applied++
	p.apply(&e)
}

func (p *Projection) episode(id uuid.UUID) *episodeState {
	ep := p.episodes[id]
	if ep == nil {
		ep = &episodeState{age: -1}
		p.episodes[id] = ep
	}
	return ep
}

func (p *Projection) det(m Month) *detentionMonth {
	d := p.detention[m]
	if d == nil {
		d = &detentionMonth{}
		p.detention[m] = d
	}
	return d
}

func (p *Projection) fu(m Month) *[4]int {
	f := p.followup[m]
	if f == nil {
		f = &[4]int{}
		p.followup[m] = f
	}
	return f
}

func inc[K comparable](m map[Month]map[K]int, month Month, k K) {
	row := m[month]
	if row == nil {
		row = map[K]int{}
		m[month] = row
	}
	row[k]++
}

const (
	typeCompleted   = events.TypePrefix + "assessment.completed.v1"
	typeDelayed     = events.TypePrefix + "assessment.delayed.v1"
	typeDispatched  = events.TypePrefix + "street_triage.dispatched.v1"
	typeSTOutcome   = events.TypePrefix + "street_triage.outcome.v1"
	typeDetained    = events.TypePrefix + "s136.detained.v1"
	typeArrived     = events.TypePrefix + "place_of_safety.arrived.v1"
	typeExtended    = events.TypePrefix + "s136.extended.v1"
	typeReleased    = events.TypePrefix + "s136.released.v1"
	typeOffered     = events.TypePrefix + "handoff.offered.v1"
	typeAttempted   = events.TypePrefix + "followup.contact_attempted.v1"
	typeEscalated   = events.TypePrefix + "followup.escalated.v1"
	typeFUCompleted = events.TypePrefix + "followup.completed.v1"
	typeHavenIn     = events.TypePrefix + "haven.arrived.v1"
	typeHavenOut    = events.TypePrefix + "haven.left.v1"
	typeOpened      = events.TypePrefix + "episode.opened.v1"
	typeAccepted    = events.TypePrefix + "handoff.accepted.v1"
)

func (p *Projection) apply(e *envelope) {
	d := &e.Data
	switch e.Type {
	case typeCompleted:
		inc(p.s136, MonthOf(d.CompletedAt), d.Outcome)
		p.addDetention(p.episode(e.episode), detFact{at: d.CompletedAt, kind: factEnded})
	case typeReleased:
		p.addDetention(p.episode(e.episode), detFact{at: d.ReleasedAt, kind: factEnded})
	case typeDelayed:
		inc(p.delays, MonthOf(e.Time), d.Cause)
	case typeDispatched:
		p.referrals[MonthOf(e.Time)]++
	case typeSTOutcome:
		if d.S136Avoided {
			p.avoided[MonthOf(e.Time)]++
			ep := p.episode(e.episode)
			ep.contact.triage = true
			p.contactEnded(ep)
		}
	case typeOpened:
		if e.Source != events.Police {
			return
		}
		ep := p.episode(e.episode)
		if c := &ep.contact; c.policeAt.IsZero() || e.Time.Before(c.policeAt) {
			c.policeAt = e.Time
		}
		p.contactEnded(ep)
	case typeAccepted:
		if e.Source != events.SafeHaven || e.ToAgency != events.Police {
			return
		}
		ep := p.episode(e.episode)
		c := &ep.contact
		if i := slices.Index(c.referrals, d.HandoffID); i >= 0 {
			c.haven = true
		} else if !c.detained && !c.haven {
			c.accepts = append(c.accepts, d.HandoffID)
		}
		p.contactEnded(ep)
	case typeDetained:
		ep := p.episode(e.episode)
		ep.contact.detained = true
		p.contactEnded(ep)
		if d.AgeYears != nil && ep.age < 0 {
			ep.age = *d.AgeYears
			if ep.age < 18 {
				for _, a := range ep.arrivals {
					p.countUnder18(*a)
				}
			}
			for _, a := range ep.arrivals {
				p.judge(ep, a)
			}
		}
		p.addDetention(ep, detFact{at: d.DetainedAt, kind: factDetained, kept: d.KeptWhereTheyAre})
	case typeArrived:
		ep := p.episode(e.episode)
		a := &arrival{month: MonthOf(d.ArrivedAt), police: d.PlaceType == events.PoliceStation, place: d.PlaceType, cond: d.PoliceStation}
		inc(p.places, a.month, d.PlaceType)
		if a.police {
			reason := ""
			if d.PoliceStation != nil {
				reason = d.PoliceStation.Reason
			}
			inc(p.cells, a.month, reason)
		}
		ep.arrivals = append(ep.arrivals, a)
		if ep.age >= 0 && ep.age < 18 {
			p.countUnder18(*a)
		}
		p.judge(ep, a)
		p.addDetention(ep, detFact{at: d.ArrivedAt, kind: factArrived, place: d.PlaceType})
	case typeExtended:
		p.addDetention(p.episode(e.episode), detFact{at: d.ExtendedAt, kind: factExtended, hours: d.Hours,
			reasoned: strings.TrimSpace(d.Reason) != "", approved: strings.TrimSpace(d.SuperintendentApproval) != ""})
	case typeOffered:
		switch {
		case d.Kind == events.FollowUp:
			p.fu(MonthOf(e.Time))[fuReferred]++
		case d.Kind == events.SafeHavenReferral && e.Source == events.Police:
			ep := p.episode(e.episode)
			c := &ep.contact
			if slices.Contains(c.accepts, d.HandoffID) {
				c.haven = true
			} else if !c.detained && !c.haven {
				c.referrals = append(c.referrals, d.HandoffID)
			}
			p.contactEnded(ep)
		}
	case typeAttempted:
		if d.Outcome == "spoke" {
			p.first(&p.episode(e.episode).contacted, e.Time, fuContacted)
		}
	case typeFUCompleted:
		p.first(&p.episode(e.episode).completed, e.Time, fuCompleted)
	case typeEscalated:
		p.first(&p.episode(e.episode).escalated, e.Time, fuEscalated)
	case typeHavenIn:
		what := d.How
		if !d.Taken {
			what = havenNotTaken
		}
		inc(p.havens, MonthOf(d.ArrivedAt), havenCount{d.Haven, what})
		ep := p.episode(e.episode)
		if d.Taken && d.How == havenBroughtByPolice {
			ep.contact.haven = true
			p.contactEnded(ep)
		}
		if ep.haven == "" {
			ep.haven = d.Haven
			for _, l := range ep.havenLefts {
				inc(p.havens, l.month, havenCount{ep.haven, l.outcome})
			}
			ep.havenLefts = nil
		}
	case typeHavenOut:
		ep := p.episode(e.episode)
		if ep.haven == "" { // its arrival is applied later (Rebuild applies ranges side by side)
			ep.havenLefts = append(ep.havenLefts, havenOut{MonthOf(d.LeftAt), d.Outcome})
			return
		}
		inc(p.havens, MonthOf(d.LeftAt), havenCount{ep.haven, d.Outcome})
	}
}

// havenNotTaken counts arrivals the haven did not take in (not for their age).
const havenNotTaken = "not_taken"

// havenBroughtByPolice is how a person brought to a haven by police came.
const havenBroughtByPolice = "brought_by_police"

// contactEnded counts a police contact in the row its facts choose, in
// the month it began, moving it when a later-applied event changes either;
// an episode not (yet) known to be opened by police is not counted. What
// can no longer change its row is let go.
func (p *Projection) contactEnded(ep *episodeState) {
	c := &ep.contact
	if c.detained || c.haven {
		c.referrals, c.accepts = nil, nil
	}
	row := contactOther
	switch {
	case c.detained:
		row = contactDetained
	case c.haven:
		row = contactHaven
	case c.triage:
		row = contactTriage
	}
	police := !c.policeAt.IsZero()
	month := MonthOf(c.policeAt)
	if c.counted && (!police || row != c.row || month != c.month) {
		p.contacts[c.month][c.row]--
		c.counted = false
	}
	if police && !c.counted {
		m := p.contacts[month]
		if m == nil {
			m = &[contactRows]int{}
			p.contacts[month] = m
		}
		m[row]++
		c.counted, c.month, c.row = true, month, row
	}
}

// judge counts an arrival at a place the Act forbids for the person, by the
// rule the police command refuses it with (law.CheckPlaceOfSafety), once the
// person's age is known. Such an arrival can only have been published
// directly; the episode record raises it as an alert.
func (p *Projection) judge(ep *episodeState, a *arrival) {
	if a.forbidden || ep.age < 0 || law.CheckPlaceOfSafety(ep.age, a.place, a.cond) == nil {
		return
	}
	a.forbidden = true
	p.forbidden[a.month]++
}

func (p *Projection) countUnder18(a arrival) {
	p.under18[a.month]++
	if a.police {
		p.u18Police[a.month]++
	}
}

// first counts a follow-up step once per episode, in the month of its
// earliest occurrence.
func (p *Projection) first(f *first, at time.Time, col int) {
	if f.set && !at.Before(f.at) {
		return
	}
	if f.set {
		p.fu(MonthOf(f.at))[col]--
	}
	f.set, f.at = true, at
	p.fu(MonthOf(at))[col]++
}
