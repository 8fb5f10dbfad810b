package episode_test

import (
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// Facts the Act forbids, published directly rather than through the
// commands that refuse them, are applied and each raised as an alert citing
// its section; the same facts made lawful raise none.
func TestFactsTheActForbidsAreKeptAndRaisedAsAlerts(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 11, 20, h, m, 0, 0, time.UTC) }
	station := func(c *events.PoliceStationConditions) *events.PlaceOfSafetyArrived {
		return &events.PlaceOfSafetyArrived{ArrivedAt: at(23, 30), PlaceType: events.PoliceStation, PlaceName: "Medway police station", PoliceStation: c}
	}
	allMet := &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true, InspectorAuthorisation: "Insp. Cole", HealthProfessionalConsulted: true}
	detained := func(age int, consulted bool) *events.S136Detained {
		return &events.S136Detained{DetainedAt: at(23, 5), LocationType: "public_place", AgeYears: age, Consulted: consulted}
	}
	consult := &events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "detain"}
	doctor := func(name string, s12 bool) *events.AssessmentDoctorAllocated {
		return &events.AssessmentDoctorAllocated{Doctor: name, S12Approved: s12, Role: "s12"}
	}
	extended := func(hours int, doctor, superintendent string) *events.S136Extended {
		return &events.S136Extended{Hours: hours, Doctor: doctor, Reason: "too intoxicated to assess", SuperintendentApproval: superintendent, ExtendedAt: at(23, 50)}
	}
	// The AMHP service records on the episode once offered the assessment.
	assess := &events.HandoffOffered{HandoffID: events.NewEpisodeID(), Kind: events.MHAAssessment, To: events.AMHP, Reason: "assess", Urgency: "emergency",
		Summary: events.Summary{Facts: []events.Fact{}}}
	for _, c := range []struct {
		name  string
		facts []any
		want  []string // section: text, in order; none when lawful
	}{
		{"a 16-year-old at a police station", []any{consult, detained(16, true), station(allMet)},
			[]string{"s136A(1): a police station may never be used as a place of safety for a person under 18 (the person is 16)"}},
		{"an adult at a police station without the conditions", []any{consult, detained(34, true), station(&events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, InspectorAuthorisation: "Insp. Cole"})},
			[]string{"s136A(2); Places of Safety Regulations 2017: an adult may be held in a police station only when every recorded condition is met (not recorded: no other place"}},
		{"an adult at a police station with every condition", []any{consult, detained(34, true), station(allMet)}, nil},
		{"s136 with no consultation recorded", []any{detained(34, false)},
			[]string{"s136(1C): record the consultation before the s136 decision"}},
		{"s136 after the consultation", []any{consult, detained(34, false)}, nil},
		{"a second extension, by a doctor not allocated, at a police station without a superintendent",
			[]any{consult, detained(34, true), station(allMet), doctor("Dr Rao", true), extended(6, "Dr Rao", "Supt. Khan"), extended(6, "Dr Who", "")},
			[]string{"s136B: only the registered medical practitioner", "s136B: when the person is held at a police station", "s136B: the permitted period may be extended only once"}},
		{"an extension by the allocated doctor, approved", []any{consult, detained(34, true), station(allMet), doctor("Dr Rao", true), extended(6, "dr rao", "Supt. Khan")}, nil},
		{"detention under s2 on one recommendation", []any{doctor("Dr Rao", false), &events.AssessmentCompleted{Outcome: "detained_s2", CompletedAt: at(23, 59)}},
			[]string{"s2(3), s3(3), s12(2): detention under s2 or s3 needs two medical recommendations, one from an s12-approved doctor (have 1 doctors, 0 s12-approved)"}},
		{"detention under s2 on two, one s12-approved", []any{doctor("Dr Rao", true), doctor("Dr Lee", false), &events.AssessmentCompleted{Outcome: "detained_s2", CompletedAt: at(23, 59)}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep := events.NewEpisodeID()
			v := episode.New(ep)
			var last events.Event
			for _, d := range append([]any{&events.EpisodeOpened{Channel: "999", Summary: "man on the bridge"}, assess}, c.facts...) {
				a := events.Police
				if _, ok := d.(*events.AssessmentDoctorAllocated); ok {
					a = events.AMHP
				}
				if _, ok := d.(*events.S136Extended); ok {
					a = events.AMHP
				}
				if _, ok := d.(*events.AssessmentCompleted); ok {
					a = events.AMHP
				}
				last = fact(t, a, ep, d)
				if _, err := v.Apply(last); err != nil {
					t.Fatal(err)
				}
				v.Apply(last) // applied again: raises nothing more
			}
			if len(v.Timeline) != len(c.facts)+2 || len(v.Conflicts) > 0 {
				t.Fatalf("every fact must be kept and applied: timeline %d, conflicts %v", len(v.Timeline), v.Conflicts)
			}
			if len(v.Alerts) != len(c.want) {
				t.Fatalf("alerts = %+v, want %d", v.Alerts, len(c.want))
			}
			for i, w := range c.want {
				a := v.Alerts[i]
				if got := a.Section + ": " + strings.TrimPrefix(a.Text, a.Section+": "); !strings.HasPrefix(got, w) || a.EventID != last.ID {
					t.Errorf("alert %d = %+v, want %q on the last fact %s", i, a, w, last.ID)
				}
			}
		})
	}
}

// Alerts are not clinical: every agency's view holds them, police's too.
func TestEveryAgencySeesTheAlerts(t *testing.T) {
	for _, a := range events.Agencies {
		fields, err := episode.Allowlist(a)
		if err != nil {
			continue // not a pathway agency
		}
		found := false
		for _, f := range fields {
			found = found || f == "alerts"
		}
		if !found {
			t.Errorf("%s does not see the alerts", a)
		}
	}
}

// The s136 period a view shows ends when the clock breaches: an extension
// the Act refuses (a second one, one made after the period expired) is an
// alert, never a later due time; arrivals recorded out of order run the
// period from the earliest, as the clock reads them.
func TestAViewsDueTimeIsTheClocksWhateverWasRecorded(t *testing.T) {
	start := time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC)
	extended := func(after time.Duration) *events.S136Extended {
		return &events.S136Extended{Hours: 12, Doctor: "Dr Rao", Reason: "too intoxicated to assess", ExtendedAt: start.Add(after)}
	}
	arrived := func(after time.Duration, name string) *events.PlaceOfSafetyArrived {
		return &events.PlaceOfSafetyArrived{ArrivedAt: start.Add(after), PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: name}
	}
	for _, c := range []struct {
		name   string
		facts  []any
		due    time.Duration // after start
		alerts int
	}{
		{"one lawful extension", []any{arrived(0, "Priority House"), extended(23 * time.Hour)}, 36 * time.Hour, 0},
		{"a second extension", []any{arrived(0, "Priority House"), extended(23 * time.Hour), extended(34 * time.Hour)}, 36 * time.Hour, 1},
		{"an extension after the period expired", []any{arrived(0, "Priority House"), extended(25 * time.Hour)}, 24 * time.Hour, 1},
		{"the transfer recorded before the first arrival", []any{arrived(3*time.Hour, "Little Brook"), arrived(0, "Priority House")}, 24 * time.Hour, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep := events.NewEpisodeID()
			v := episode.New(ep)
			var d law.Detention // the clock's reading of the same facts
			facts := append([]any{&events.EpisodeOpened{Channel: "999", Summary: "man on the bridge"},
				&events.HandoffOffered{HandoffID: events.NewEpisodeID(), Kind: events.MHAAssessment, To: events.AMHP, Reason: "assess", Urgency: "emergency",
					Summary: events.Summary{Facts: []events.Fact{}}},
				&events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "detain"},
				&events.S136Detained{DetainedAt: start.Add(-time.Hour), LocationType: "public_place", AgeYears: 34, Consulted: true},
				&events.AssessmentDoctorAllocated{Doctor: "Dr Rao", S12Approved: true, Role: "s12"}}, c.facts...)
			for _, data := range facts {
				a := events.Police
				switch data.(type) {
				case *events.AssessmentDoctorAllocated, *events.S136Extended:
					a = events.AMHP
				}
				if _, err := v.Apply(fact(t, a, ep, data)); err != nil {
					t.Fatal(err)
				}
				_ = d.Apply(data)
			}
			viewDue, ok := v.S136.DueAt()
			clockDue, _ := d.Expiry()
			if !ok || !viewDue.Equal(clockDue) || viewDue.Sub(start) != c.due {
				t.Fatalf("the view's period ends %s after its start, the clock's %s; want %s", viewDue.Sub(start), clockDue.Sub(start), c.due)
			}
			if len(v.Alerts) != c.alerts {
				t.Fatalf("alerts = %+v, want %d", v.Alerts, c.alerts)
			}
		})
	}
}
