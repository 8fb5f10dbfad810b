// Package reportgen writes valid crisis pathway events whose report figures
// are known in advance: the tests check the reports against the figures they
// asked for, and the report benchmark loads a million of them.
package reportgen

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/reports"
)

// Gen makes events from a seeded source, so the same seed gives the same
// events (ids included).
type Gen struct {
	rng *rand.Rand
	err error
}

// New returns a generator seeded with seed.
func New(seed uint64) *Gen { return &Gen{rng: rand.New(rand.NewPCG(seed, seed^0x5eed))} }

// Err is the first error building an event (a generator bug, as every event
// it makes is valid by construction).
func (g *Gen) Err() error { return g.err }

// Rand is the generator's random source.
func (g *Gen) Rand() *rand.Rand { return g.rng }

func (g *Gen) id() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	u, _ := uuid.FromBytes(b[:])
	u[6] = (u[6] & 0x0f) | 0x40 // version 4
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u.String()
}

func (g *Gen) event(src events.Agency, episode string, at time.Time, data any) events.Event {
	e, err := events.New(src, episode, data, events.At(at.Truncate(time.Second)), events.WithID(g.id()))
	if err != nil && g.err == nil {
		g.err = err
	}
	return e
}

// InMonth is an instant in London month m, spread over the whole month: the
// first hours of a month are in the previous month in UTC during summer
// time, so a report keeping UTC months would miscount them.
func (g *Gen) InMonth(m reports.Month) time.Time {
	start, end := m.Start(), m.End()
	span := end.Sub(start)
	if g.rng.IntN(8) == 0 { // the first hour of the month, London time
		span = time.Hour
	}
	return start.Add(time.Duration(g.rng.Int64N(int64(span/time.Second))) * time.Second).UTC()
}

// Detention describes one s136 detention ending in an assessment.
type Detention struct {
	Completed time.Time     // when the assessment concluded
	Outcome   string        // assessment outcome
	Duration  time.Duration // arrival at the place of safety to completion
	Place     events.PlaceType
	Age       int
	Delay     string // an assessment.delayed cause, or ""
	Extension int    // hours of s136.extended, 0 for none
}

// The schedule of a detention's events, from its completion backwards and
// forwards: what the reports count, and when.

// CellReason is why a police station was used, for a detention there: one
// of the recorded reasons, or none (an arrival published before the reason
// was asked), taken from the person's age so the same detention always
// gives the same reason.
func (d Detention) CellReason() string {
	if d.Place != events.PoliceStation {
		return ""
	}
	return append(slices.Clone(events.PoliceStationReasons), "")[d.Age%(len(events.PoliceStationReasons)+1)]
}

// Arrived is the arrival at the place of safety (the clock starts).
func (d Detention) Arrived() time.Time { return d.Completed.Add(-d.Duration) }

// DelayedAt is when the delay is recorded.
func (d Detention) DelayedAt() time.Time { return d.Arrived().Add(d.Duration / 3) }

// ExtendedAt is when the extension is granted.
func (d Detention) ExtendedAt() time.Time { return d.Arrived().Add(20 * time.Hour) }

// ReferredAt is when a person not admitted is referred to the helpline.
func (d Detention) ReferredAt() time.Time { return d.Completed.Add(10 * time.Minute) }

// ContactedAt is when the helpline's first call is answered.
func (d Detention) ContactedAt() time.Time { return d.ReferredAt().Add(20 * time.Hour) }

// Detention returns the events of one detention: detained, arrived at the
// place of safety, optionally delayed and extended, assessed; when not
// admitted, referred to the helpline for follow-up with one answered call.
func (g *Gen) Detention(d Detention) []events.Event {
	ep := g.id()
	arrived := d.Arrived()
	detained := arrived.Add(-time.Duration(20+g.rng.IntN(40)) * time.Minute)
	evs := []events.Event{
		g.event(events.Police, ep, detained, events.S136Detained{DetainedAt: detained.UTC().Truncate(time.Second), LocationType: "public_place", AgeYears: d.Age, Consulted: true}),
	}
	arr := events.PlaceOfSafetyArrived{ArrivedAt: arrived.UTC().Truncate(time.Second), PlaceType: d.Place, PlaceName: "Place of safety"}
	if d.Place == events.PoliceStation {
		arr.PoliceStation = &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true, InspectorAuthorisation: "Inspector on duty", HealthProfessionalConsulted: true,
			Reason: d.CellReason()}
	}
	evs = append(evs, g.event(events.Police, ep, arrived, arr))
	if d.Delay != "" {
		evs = append(evs, g.event(events.AMHP, ep, d.DelayedAt(), events.AssessmentDelayed{Cause: d.Delay}))
	}
	if d.Extension > 0 {
		at := d.ExtendedAt()
		x := events.S136Extended{Hours: d.Extension, Doctor: "Examining doctor", Reason: "Condition makes assessment impracticable in time", ExtendedAt: at.UTC().Truncate(time.Second)}
		if d.Place == events.PoliceStation { // s136B: a superintendent approves it
			x.SuperintendentApproval = "Superintendent on duty"
		}
		evs = append(evs, g.event(events.AMHP, ep, at, x))
	}
	evs = append(evs, g.event(events.AMHP, ep, d.Completed, events.AssessmentCompleted{Outcome: d.Outcome, CompletedAt: d.Completed.UTC().Truncate(time.Second)}))
	if d.Outcome == "not_admitted" {
		evs = append(evs, g.event(events.AMHP, ep, d.ReferredAt(), events.HandoffOffered{HandoffID: g.id(), Kind: events.FollowUp, To: events.Crisisline,
			Reason: "Assessed under s136 and not admitted: 4 days of follow-up", Urgency: "routine", Summary: events.Summary{Facts: []events.Fact{}}}))
		evs = append(evs, g.event(events.Crisisline, ep, d.ContactedAt(), events.FollowupContactAttempted{ContactNumber: 1, Outcome: "spoke"}))
	}
	return evs
}

// Outcomes are the assessment outcomes of the catalogue.
var Outcomes = []string{"detained_s2", "detained_s3", "informal_admission", "not_admitted"}

// Causes are the delay causes of the catalogue.
var Causes = []string{"amhp_availability", "s12_doctor_availability", "intoxication", "no_bed", "interpreter", "other"}

// Places are the place of safety types of the catalogue.
var Places = []events.PlaceType{events.HealthBasedPlaceOfSafety, events.EmergencyDepartment, events.PoliceStation, events.KeptWhereTheyAre}

// RandomDetention is a detention completed at at with the given outcome and
// everything else drawn at random (adults only in police stations).
func (g *Gen) RandomDetention(at time.Time, outcome string) Detention {
	d := Detention{Completed: at, Outcome: outcome,
		Duration: time.Duration(90+g.rng.IntN(20*60)) * time.Minute,
		Place:    Places[g.rng.IntN(len(Places))], Age: 14 + g.rng.IntN(70)}
	if d.Place == events.PoliceStation && d.Age < 18 {
		d.Place = events.HealthBasedPlaceOfSafety
	}
	if g.rng.IntN(4) == 0 {
		d.Delay = Causes[g.rng.IntN(len(Causes))]
	}
	if g.rng.IntN(10) == 0 { // a long detention, sometimes extended, sometimes past its period
		d.Duration = time.Duration(22*60+g.rng.IntN(18*60)) * time.Minute
		if g.rng.IntN(2) == 0 {
			d.Extension = 6 + g.rng.IntN(7)
		}
	}
	return d
}

// StreetTriage returns the events of one street triage referral at at:
// dispatched, then its outcome, avoiding an s136 detention or not.
func (g *Gen) StreetTriage(at time.Time, avoided bool) []events.Event {
	ep := g.id()
	out := events.StreetTriageOutcome{S136Avoided: avoided, Outcome: "referred_spoa"}
	if !avoided {
		out.Outcome = "s136_detention"
	}
	// The outcome follows within the same night shift; it stays in at's
	// month unless at is the month's last hour.
	return []events.Event{
		g.event(events.Police, ep, at, events.StreetTriageDispatched{Team: "Night street triage"}),
		g.event(events.Police, ep, at, out),
	}
}

// How a police contact ends, as the contacts report counts it.
const (
	ContactDetained = "detained" // an s136 detention, whatever came before it
	ContactHaven    = "haven"    // taken to a safe haven, no detention
	ContactTriage   = "triage"   // street triage advised and s136 avoided, neither of the above
	ContactOther    = "other"
)

// ContactEnds are the ends of a police contact, in the report's order.
var ContactEnds = []string{ContactDetained, ContactHaven, ContactTriage, ContactOther}

// Contact returns the events of one police contact opened at at that ends
// as end, by a route drawn at random (every event at at): a haven reached
// by a police referral the haven accepts or by police bringing the person,
// sometimes after street triage avoided an s136; a detention after a haven
// or after street triage; a referral the haven never accepts, a child the
// haven does not take in, or the haven accepting another agency's
// referral, none of which is a haven. avoided says whether it holds a
// street_triage.outcome with s136Avoided (the triage report counts it).
func (g *Gen) Contact(at time.Time, end string) (evs []events.Event, avoided bool) {
	ep := g.id()
	add := func(src events.Agency, data any, opts ...events.Option) {
		e, err := events.New(src, ep, data, append([]events.Option{events.At(at.Truncate(time.Second)), events.WithID(g.id())}, opts...)...)
		if err != nil && g.err == nil {
			g.err = err
		}
		evs = append(evs, e)
	}
	arrivedAt := at.UTC().Truncate(time.Second)
	triage := func(ok bool) {
		out := events.StreetTriageOutcome{S136Avoided: ok, Outcome: "safe_haven"}
		if !ok {
			out.Outcome = "s136_detention"
		}
		add(events.Police, out)
		avoided = avoided || ok
	}
	refer := func(from events.Agency, accepted bool) {
		id := g.id()
		add(from, events.HandoffOffered{HandoffID: id, Kind: events.SafeHavenReferral, To: events.SafeHaven,
			Reason: "somewhere calm tonight instead of s136", Urgency: "urgent", Summary: events.Summary{Facts: []events.Fact{}}})
		if accepted {
			add(events.SafeHaven, events.HandoffAccepted{HandoffID: id, AcceptedBy: "Haven worker"}, events.To(from))
		}
	}
	brought := func(taken bool) {
		a := events.HavenArrived{How: "brought_by_police", Haven: "haven-margate", ArrivedAt: arrivedAt, Taken: taken}
		if !taken {
			a.NotTakenReason = "The haven is for people aged 18 and over; the children's crisis team can see you tonight"
		}
		add(events.SafeHaven, a)
	}
	haven := func() {
		switch g.rng.IntN(3) {
		case 0:
			refer(events.Police, true)
		case 1:
			brought(true)
		default:
			refer(events.Police, true)
			brought(true)
		}
	}
	add(events.Police, events.EpisodeOpened{Channel: "999", Summary: "person in distress in a public place"})
	switch end {
	case ContactDetained:
		switch g.rng.IntN(4) {
		case 0:
			triage(true)
		case 1:
			haven()
		case 2:
			triage(false)
		}
		add(events.Police, events.S136Detained{DetainedAt: arrivedAt, LocationType: "public_place", AgeYears: 30, Consulted: true})
	case ContactHaven:
		if g.rng.IntN(2) == 0 {
			triage(true)
		}
		haven()
	case ContactTriage:
		triage(true)
		switch g.rng.IntN(3) {
		case 0:
			refer(events.Police, false)
		case 1:
			brought(false)
		}
	default:
		switch g.rng.IntN(4) {
		case 0:
			refer(events.Police, false)
		case 1:
			brought(false)
		case 2:
			refer(events.SPoA, true)
		}
	}
	return evs, avoided
}
