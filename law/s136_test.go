package law_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// 01:30 on a Friday night: PC 4471 detains a man on Rochester bridge.
var detainedAt = time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC)

func TestPermittedPeriodStartsOnArrivalOrOnTheDecisionToKeep(t *testing.T) {
	arrived := detainedAt.Add(50 * time.Minute) // the drive to the s136 suite
	for _, tc := range []struct {
		name       string
		d          law.Detention
		wantStart  time.Time
		wantExpiry time.Time
		started    bool
	}{
		{"removed to the s136 suite: 24h from arrival, not from detention",
			law.Detention{DetainedAt: detainedAt, ArrivedAt: arrived, Place: events.HealthBasedPlaceOfSafety},
			arrived, arrived.Add(24 * time.Hour), true},
		{"kept where they are: 24h from the decision to keep",
			law.Detention{DetainedAt: detainedAt, KeptWhereTheyAre: true, Place: events.KeptWhereTheyAre},
			detainedAt, detainedAt.Add(24 * time.Hour), true},
		{"kept where they are, then moved: a move does not restart the period",
			law.Detention{DetainedAt: detainedAt, KeptWhereTheyAre: true, ArrivedAt: arrived, Place: events.EmergencyDepartment},
			detainedAt, detainedAt.Add(24 * time.Hour), true},
		{"detained and still on the way: the period has not started",
			law.Detention{DetainedAt: detainedAt}, time.Time{}, time.Time{}, false},
		{"extended by 12h: 36h from arrival",
			law.Detention{DetainedAt: detainedAt, ArrivedAt: arrived, Extension: 12 * time.Hour},
			arrived, arrived.Add(36 * time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, ok := tc.d.Start()
			expiry, eok := tc.d.Expiry()
			if ok != tc.started || eok != tc.started || !start.Equal(tc.wantStart) || !expiry.Equal(tc.wantExpiry) {
				t.Fatalf("start %v (%v), expiry %v (%v); want start %v, expiry %v (%v)", start, ok, expiry, eok, tc.wantStart, tc.wantExpiry, tc.started)
			}
		})
	}
}

func TestClockStopsWhenAssessmentConcludesOrPersonIsReleased(t *testing.T) {
	arrived := detainedAt.Add(time.Hour)
	d := law.Detention{DetainedAt: detainedAt, ArrivedAt: arrived}
	if d.Running(detainedAt.Add(30 * time.Minute)) {
		t.Error("running before arrival; the period starts on arrival")
	}
	if !d.Running(arrived) || !d.Running(arrived.Add(23*time.Hour)) {
		t.Error("not running between arrival and expiry")
	}
	d.EndedAt = arrived.Add(5 * time.Hour) // assessment concluded: not admitted
	if d.Running(d.EndedAt) || d.Running(arrived.Add(23*time.Hour)) {
		t.Error("still running after the assessment concluded")
	}
}

func TestExtension(t *testing.T) {
	arrived := detainedAt.Add(time.Hour)
	expiry := arrived.Add(24 * time.Hour)
	suite := law.Detention{DetainedAt: detainedAt, ArrivedAt: arrived, Place: events.HealthBasedPlaceOfSafety, AgeYears: 34}
	cells := suite
	cells.Place = events.PoliceStation
	good := law.ExtensionRequest{By: law.ExaminingDoctor, Doctor: "Dr A. Okafor (s12)", Length: 12 * time.Hour,
		Reason: "too intoxicated to be assessed; condition makes assessment impracticable in time", At: expiry.Add(-2 * time.Hour)}
	with := func(f func(*law.ExtensionRequest)) law.ExtensionRequest { x := good; f(&x); return x }

	for _, tc := range []struct {
		name string
		d    law.Detention
		x    law.ExtensionRequest
		want []error // nil: accepted
	}{
		{"accepted: the examining doctor, before expiry, with a reason", suite, good, nil},
		{"accepted: 6 hours", suite, with(func(x *law.ExtensionRequest) { x.Length = 6 * time.Hour }), nil},
		{"accepted at a police station with the superintendent's approval", cells,
			with(func(x *law.ExtensionRequest) { x.SuperintendentApproval = "Supt. J. Reid" }), nil},
		{"refused after expiry", suite, with(func(x *law.ExtensionRequest) { x.At = expiry.Add(time.Minute) }),
			[]error{law.ErrExtensionAfterExpiry}},
		{"refused at the very moment of expiry", suite, with(func(x *law.ExtensionRequest) { x.At = expiry }),
			[]error{law.ErrExtensionAfterExpiry}},
		{"refused for a police officer", suite, with(func(x *law.ExtensionRequest) { x.By = law.PoliceOfficer }),
			[]error{law.ErrExtensionNotByDoctor}},
		{"refused for the AMHP", suite, with(func(x *law.ExtensionRequest) { x.By = law.AMHP }),
			[]error{law.ErrExtensionNotByDoctor}},
		{"refused over 12 hours", suite, with(func(x *law.ExtensionRequest) { x.Length = 12*time.Hour + time.Minute }),
			[]error{law.ErrExtensionTooLong}},
		{"refused for nothing", suite, with(func(x *law.ExtensionRequest) { x.Length = 0 }),
			[]error{law.ErrExtensionNotPositive}},
		{"refused without a reason", suite, with(func(x *law.ExtensionRequest) { x.Reason = "  " }),
			[]error{law.ErrExtensionNoReason}},
		{"refused at a police station without a superintendent", cells, good,
			[]error{law.ErrExtensionNoSuperintendent}},
		{"refused a second time", law.Detention{DetainedAt: detainedAt, ArrivedAt: arrived, Extension: 4 * time.Hour}, good,
			[]error{law.ErrExtensionAgain}},
		{"refused before the period has started", law.Detention{DetainedAt: detainedAt}, good,
			[]error{law.ErrNotStarted}},
		{"refused after the person was released", law.Detention{DetainedAt: detainedAt, ArrivedAt: arrived, EndedAt: arrived.Add(3 * time.Hour)}, good,
			[]error{law.ErrEnded}},
		{"a police officer, late, for 13 hours: every rule broken is named", suite,
			with(func(x *law.ExtensionRequest) {
				x.By = law.PoliceOfficer
				x.At = expiry.Add(time.Hour)
				x.Length = 13 * time.Hour
			}),
			[]error{law.ErrExtensionNotByDoctor, law.ErrExtensionAfterExpiry, law.ErrExtensionTooLong}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := law.Extend(tc.d, tc.x)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if exp, _ := got.Expiry(); !exp.Equal(expiry.Add(tc.x.Length)) {
					t.Fatalf("expiry after extension %v, want %v", exp, expiry.Add(tc.x.Length))
				}
				return
			}
			if err == nil {
				t.Fatal("accepted; the Act refuses it")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not name the rule %q", err, w)
				}
				var r *law.Rule
				if !errors.As(err, &r) || !strings.Contains(err.Error(), r.Section) {
					t.Errorf("error %q does not cite its section", err)
				}
			}
			if got.Extension != tc.d.Extension {
				t.Errorf("a refused extension changed the detention: %v", got.Extension)
			}
		})
	}
}

func TestPoliceStationAsPlaceOfSafety(t *testing.T) {
	all := &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true,
		InspectorAuthorisation: "Insp. K. Bell", HealthProfessionalConsulted: true}
	noInspector := *all
	noInspector.InspectorAuthorisation = ""
	noRisk := *all
	noRisk.ImminentRiskOfSeriousHarm = false
	for _, tc := range []struct {
		name    string
		age     int
		place   events.PlaceType
		cond    *events.PoliceStationConditions
		want    error
		missing string
	}{
		{"a 16-year-old in the s136 suite", 16, events.HealthBasedPlaceOfSafety, nil, nil, ""},
		{"a 16-year-old in a police station: refused even with every condition", 16, events.PoliceStation, all, law.ErrChildInPoliceStation, ""},
		{"a 17-year-old in a police station: refused", 17, events.PoliceStation, nil, law.ErrChildInPoliceStation, ""},
		{"an adult in a police station with every condition recorded", 18, events.PoliceStation, all, nil, ""},
		{"an adult in a police station without its conditions", 34, events.PoliceStation, nil, law.ErrPoliceStationConditions, "inspector"},
		{"an adult in a police station without an inspector's authorisation", 34, events.PoliceStation, &noInspector, law.ErrPoliceStationConditions, "inspector"},
		{"an adult in a police station without imminent risk", 34, events.PoliceStation, &noRisk, law.ErrPoliceStationConditions, "imminent risk"},
		{"an adult in the emergency department", 34, events.EmergencyDepartment, nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := law.CheckPlaceOfSafety(tc.age, tc.place, tc.cond)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.missing) {
				t.Fatalf("%q does not name what is missing (%q)", err, tc.missing)
			}
		})
	}
}

func TestWelfareChecksEvery30MinutesInAPoliceStation(t *testing.T) {
	if !law.NeedsWelfareChecks(events.PoliceStation) || law.NeedsWelfareChecks(events.HealthBasedPlaceOfSafety) {
		t.Fatal("welfare checks are required in a police station, and only there")
	}
	last := detainedAt.Add(time.Hour)
	if got := law.WelfareCheckDue(last); !got.Equal(last.Add(30 * time.Minute)) {
		t.Fatalf("next check due %v, want 30 minutes after %v", got, last)
	}
}

func TestNeverInAPrivateDwelling(t *testing.T) {
	if err := law.CheckDetentionLocation("private_dwelling"); !errors.Is(err, law.ErrPrivateDwelling) {
		t.Fatalf("got %v, want %v", err, law.ErrPrivateDwelling)
	}
	if err := law.CheckDetentionLocation("public_place"); err != nil {
		t.Fatalf("a public place refused: %v", err)
	}
}

func TestDetentionBuiltFromTheEpisodeTimeline(t *testing.T) {
	arrived := detainedAt.Add(45 * time.Minute)
	var d law.Detention
	for _, fact := range []any{
		&events.S136Detained{DetainedAt: detainedAt, LocationType: "public_place", AgeYears: 34, Consulted: true},
		&events.PlaceOfSafetyArrived{ArrivedAt: arrived, PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite"},
		&events.PlaceOfSafetyArrived{ArrivedAt: arrived.Add(3 * time.Hour), PlaceType: events.EmergencyDepartment, PlaceName: "Medway Maritime A&E"},
		&events.S136Extended{Hours: 12, Doctor: "Dr A. Okafor", Reason: "intoxicated", ExtendedAt: arrived.Add(20 * time.Hour)},
	} {
		if err := d.Apply(fact); err != nil {
			t.Fatalf("apply %T: %v", fact, err)
		}
	}
	if exp, _ := d.Expiry(); !exp.Equal(arrived.Add(36 * time.Hour)) {
		t.Fatalf("expiry %v, want 36h from the first arrival %v", exp, arrived.Add(36*time.Hour))
	}
	late := &events.S136Extended{Hours: 2, Doctor: "Dr B. Shah", Reason: "again", ExtendedAt: arrived.Add(37 * time.Hour)}
	if err := d.Apply(late); !errors.Is(err, law.ErrExtensionAgain) || !errors.Is(err, law.ErrExtensionAfterExpiry) {
		t.Fatalf("a second, late extension: %v, want it refused as both", err)
	}
	if err := d.Apply(&events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: arrived.Add(30 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if d.Running(arrived.Add(31 * time.Hour)) {
		t.Fatal("still running after the assessment concluded")
	}
}

// The person released, then detained again in the same episode: the second
// detention's period runs from its own arrival, unextended and not ended,
// whatever the first one's facts were (as the episode record shows it).
func TestASecondDetentionInTheEpisodeStartsFromNothing(t *testing.T) {
	arrived := detainedAt.Add(45 * time.Minute)
	again := detainedAt.Add(48 * time.Hour)
	var d law.Detention
	for _, fact := range []any{
		&events.S136Detained{DetainedAt: detainedAt, LocationType: "public_place", AgeYears: 34, Consulted: true},
		&events.PlaceOfSafetyArrived{ArrivedAt: arrived, PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite"},
		&events.S136Extended{Hours: 12, Doctor: "Dr A. Okafor", Reason: "intoxicated", ExtendedAt: arrived.Add(20 * time.Hour)},
		&events.S136Released{ReleasedAt: arrived.Add(30 * time.Hour), Reason: "no mental disorder found"},
		&events.S136Detained{DetainedAt: again, LocationType: "public_place", AgeYears: 34, Consulted: true},
	} {
		if err := d.Apply(fact); err != nil {
			t.Fatalf("apply %T: %v", fact, err)
		}
	}
	if _, ok := d.Expiry(); ok || d.Running(again) {
		t.Fatalf("detained again, not yet arrived: %+v, want a period not started", d)
	}
	if err := d.Apply(&events.PlaceOfSafetyArrived{ArrivedAt: again.Add(time.Hour), PlaceType: events.EmergencyDepartment, PlaceName: "Medway Maritime A&E"}); err != nil {
		t.Fatal(err)
	}
	if exp, _ := d.Expiry(); !exp.Equal(again.Add(25*time.Hour)) || !d.Running(again.Add(2*time.Hour)) || d.Extension != 0 {
		t.Fatalf("second detention %+v expires %v, want running, unextended, 24h from its own arrival %v", d, exp, again.Add(25*time.Hour))
	}
	// The same fact applied again is the same detention: nothing changes.
	before := d
	if err := d.Apply(&events.S136Detained{DetainedAt: again, LocationType: "public_place", AgeYears: 34, Consulted: true}); err != nil || d != before {
		t.Fatalf("the second detention applied again: %+v, want %+v unchanged", d, before)
	}
}
