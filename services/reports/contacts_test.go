package reports_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/reports"
)

// contactsTable applies evs in the order given and returns the police
// contacts table over rng as CSV.
func contactsTable(t *testing.T, evs []events.Event, rng reports.Range) string {
	t.Helper()
	p := projectionOf(t, evs)
	if s := p.Skipped(); len(s) > 0 {
		t.Fatalf("events not counted: %+v", s)
	}
	tab, err := p.Report("contacts", rng)
	if err != nil {
		t.Fatal(err)
	}
	return text(tab)
}

// Each police contact is counted once, in the month it began, in the row of
// how it ended: a detention wins over a haven visit before it, a haven over
// the street triage that advised it; a haven referral the haven never
// accepted, a child the haven did not take in, or the haven accepting
// another agency's referral is no haven. Whatever order the events are
// applied in, the table is the same.
func TestPoliceContactsCountOnceInTheRowOfHowTheyEndedInAnyOrder(t *testing.T) {
	nov, dec := reports.MonthFor(2026, time.November), reports.MonthFor(2026, time.December)
	rng := reports.Range{From: nov, To: dec}
	var evs []events.Event
	add := func(src events.Agency, ep string, at time.Time, data any, opts ...events.Option) {
		e, err := events.New(src, ep, data, append([]events.Option{events.At(at)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	open := func(src events.Agency, at time.Time) string {
		ep := events.NewEpisodeID()
		add(src, ep, at, events.EpisodeOpened{Channel: "999", Summary: "person in distress"})
		return ep
	}
	refer := func(from events.Agency, ep string, at time.Time, accepted bool) {
		id := events.NewEpisodeID()
		add(from, ep, at, events.HandoffOffered{HandoffID: id, Kind: events.SafeHavenReferral, To: events.SafeHaven,
			Reason: "the haven tonight", Urgency: "urgent", Summary: events.Summary{Facts: []events.Fact{}}})
		if accepted {
			add(events.SafeHaven, ep, at.Add(5*time.Minute), events.HandoffAccepted{HandoffID: id, AcceptedBy: "Robin Hale"}, events.To(from))
		}
	}
	arrive := func(ep string, at time.Time, how string, taken bool) {
		a := events.HavenArrived{How: how, Haven: "haven-margate", ArrivedAt: at, Taken: taken}
		if !taken {
			a.NotTakenReason = "The haven is for people aged 18 and over"
		}
		add(events.SafeHaven, ep, at, a)
	}
	triage := func(ep string, at time.Time) {
		add(events.Police, ep, at, events.StreetTriageOutcome{S136Avoided: true, Outcome: "safe_haven"})
	}
	detain := func(ep string, at time.Time) {
		add(events.Police, ep, at, events.S136Detained{DetainedAt: at, LocationType: "public_place", AgeYears: 44, Consulted: true})
	}
	fri := time.Date(2026, 11, 20, 21, 0, 0, 0, reports.London)

	// November. Ramsgate harbour: street triage advise the haven, police
	// refer him, the haven accepts and he is brought in: a haven.
	ramsgate := open(events.Police, fri)
	triage(ramsgate, fri.Add(10*time.Minute))
	refer(events.Police, ramsgate, fri.Add(20*time.Minute), true)
	arrive(ramsgate, fri.Add(40*time.Minute), "brought_by_police", true)
	// Brought to the haven, then detained under s136 when he tried to
	// leave towards the cliffs: a detention.
	cliffs := open(events.Police, fri.Add(time.Hour))
	arrive(cliffs, fri.Add(80*time.Minute), "brought_by_police", true)
	detain(cliffs, fri.Add(3*time.Hour))
	// Street triage avoided an s136 and she went home: street triage.
	home := open(events.Police, fri.Add(2*time.Hour))
	triage(home, fri.Add(150*time.Minute))
	// Opened at 23:30 on 30 November (GMT): still November.
	late := open(events.Police, time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC))
	triage(late, time.Date(2026, 12, 1, 0, 10, 0, 0, time.UTC))
	// Not a police contact: the ambulance EOC opened it, and took her to
	// the haven.
	eoc := open(events.Ambulance, fri)
	refer(events.Ambulance, eoc, fri.Add(10*time.Minute), true)
	arrive(eoc, fri.Add(30*time.Minute), "referred", true)

	// December. Police refer, the haven accepts, nobody records the
	// arrival: a haven (the haven took the referral).
	dec1 := time.Date(2026, 12, 4, 20, 0, 0, 0, reports.London)
	accepted := open(events.Police, dec1)
	refer(events.Police, accepted, dec1.Add(10*time.Minute), true)
	// Other: a referral declined (never accepted); a 16-year-old the haven
	// did not take in; SPoA's referral accepted in a police contact.
	declined := open(events.Police, dec1.Add(time.Hour))
	refer(events.Police, declined, dec1.Add(70*time.Minute), false)
	child := open(events.Police, dec1.Add(2*time.Hour))
	arrive(child, dec1.Add(150*time.Minute), "brought_by_police", false)
	spoa := open(events.Police, dec1.Add(3*time.Hour))
	refer(events.SPoA, spoa, dec1.Add(200*time.Minute), true)

	want := "How the police contact ended,2026-11,2026-12,Grand Total\n" +
		"Detained under s136,1,0,1\n" +
		"\"Taken to a safe haven, no s136\",1,1,2\n" +
		"\"Street triage advised, s136 avoided\",2,0,2\n" +
		"Other,0,3,3\n" +
		"Grand Total,4,4,8\n" +
		"Safe haven or street triage instead of s136,75.0%,25.0%,50.0%\n"
	if got := contactsTable(t, evs, rng); got != want {
		t.Fatalf("the police contacts report:\n%s\nwant:\n%s", got, want)
	}
	reversed := slices.Clone(evs)
	slices.Reverse(reversed)
	if got := contactsTable(t, reversed, rng); got != want {
		t.Errorf("applied last event first, the report reads:\n%s\nwant:\n%s", got, want)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 14))
	for range 20 {
		shuffled := slices.Clone(evs)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if got := contactsTable(t, shuffled, rng); got != want {
			t.Fatalf("applied in another order, the report reads:\n%s\nwant:\n%s", got, want)
		}
	}

	// Before the detention is recorded, the man at the haven counts as a
	// contact ended at the haven; the detention moves him.
	upTo := slices.IndexFunc(evs, func(e events.Event) bool {
		return e.Subject == cliffs && e.Type == events.TypePrefix+"s136.detained.v1"
	})
	if got := contactsTable(t, evs[:upTo], reports.Range{From: nov, To: nov}); !containsLine(got, "\"Taken to a safe haven, no s136\",2,2") || !containsLine(got, "Detained under s136,0,0") {
		t.Errorf("before the detention, the report reads:\n%s", got)
	}
}

func containsLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}
