package places_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/places"
)

func kent(t *testing.T) *places.Directory {
	t.Helper()
	d, err := places.Default()
	if err != nil {
		t.Fatalf("the seed directory does not load: %v", err)
	}
	return d
}

// at is a moment in Kent, local time.
func at(y int, mo time.Month, d, h, m int) time.Time {
	return time.Date(y, mo, d, h, m, 0, 0, places.London)
}

func place(t *testing.T, d *places.Directory, id string) places.Place {
	t.Helper()
	p, ok := d.Place(id)
	if !ok {
		t.Fatalf("the directory has no %s", id)
	}
	return p
}

func free(n int) *int { return &n }

// The safe havens open every evening 18:00–23:00, the street triage nurse
// works Thursday to Saturday 18:00–02:00 (so into Sunday morning), and North
// Kent's adult liaison psychiatry works until midnight.
func TestOpeningHoursInKentTime(t *testing.T) {
	d := kent(t)
	thanet := place(t, d, "haven-margate")
	triage := place(t, d, "street-triage")
	northKent := place(t, d, "liaison-dartford-adults")
	cases := []struct {
		what string
		p    places.Place
		when time.Time
		open bool
	}{
		{"the haven at 19:00 on a Wednesday", thanet, at(2026, 11, 25, 19, 0), true},
		{"the haven at 17:59", thanet, at(2026, 11, 25, 17, 59), false},
		{"the haven at 23:00 (it has just closed)", thanet, at(2026, 11, 25, 23, 0), false},
		{"the haven on Christmas Day at 20:00 (365 days a year)", thanet, at(2026, 12, 25, 20, 0), true},
		{"street triage on Friday 01:30 (Thursday night's shift)", triage, at(2026, 11, 27, 1, 30), true},
		{"street triage on Sunday 01:30 (Saturday night's shift)", triage, at(2026, 11, 29, 1, 30), true},
		{"street triage on Monday 01:30", triage, at(2026, 11, 30, 1, 30), false},
		{"street triage on a Wednesday evening", triage, at(2026, 11, 25, 20, 0), false},
		{"North Kent liaison at 23:59", northKent, at(2026, 11, 25, 23, 59), true},
		{"North Kent liaison at midnight", northKent, at(2026, 11, 26, 0, 0), false},
		{"the haven at 19:00 on the day the clocks go forward", thanet, at(2027, 3, 28, 19, 0), true},
	}
	for _, c := range cases {
		if open, _ := d.OpenAt(c.p, c.when); open != c.open {
			t.Errorf("%s: open = %v, want %v", c.what, open, c.open)
		}
	}
	next, ok := d.NextOpen(triage, at(2026, 11, 30, 1, 30))
	if !ok || !next.Equal(at(2026, 12, 3, 18, 0)) {
		t.Errorf("street triage next opens %v, want Thursday 3 December 18:00", next)
	}
	if _, until := d.OpenAt(triage, at(2026, 11, 28, 23, 0)); !until.Equal(at(2026, 11, 29, 2, 0)) {
		t.Errorf("Saturday's street triage ends %v, want Sunday 02:00", until)
	}
}

// A crisis café closed on bank holidays is shown closed on Christmas Day,
// a Friday it would otherwise open, and open again on the next Thursday.
func TestBankHolidaysFollowEachPlacesRule(t *testing.T) {
	d := kent(t)
	cafe := place(t, d, "cafe-thanet")
	if open, _ := d.OpenAt(cafe, at(2026, 12, 18, 19, 0)); !open {
		t.Fatal("the café is not open on an ordinary Friday evening")
	}
	if open, _ := d.OpenAt(cafe, at(2026, 12, 25, 19, 0)); open {
		t.Fatal("the café, closed on bank holidays, is shown open on Christmas Day")
	}
	if next, _ := d.NextOpen(cafe, at(2026, 12, 25, 19, 0)); !next.Equal(at(2026, 12, 26, 17, 0)) {
		t.Fatalf("after Christmas Day the café opens %v, want Saturday 26 December 17:00", next)
	}
	if w := d.Warnings(at(2026, 11, 25, 12, 0)); len(w) != 0 {
		t.Fatalf("warnings in 2026: %v", w)
	}
	if w := d.Warnings(at(2028, 1, 3, 12, 0)); len(w) != 1 || !strings.Contains(w[0], "knows no bank holidays in 2028") {
		t.Fatalf("in 2028 the operator is not told the bank holidays ran out: %v", w)
	}
}

// Officers find a man on Ramsgate harbour wall at 21:00 on a Friday: the
// places a person can walk into now, nearest first, put the Thanet haven in
// Margate first.
func TestAManOnRamsgateHarbourWallAt21IsOfferedTheMargateHavenFirst(t *testing.T) {
	d := kent(t)
	opts := d.Route(places.Need{At: at(2026, 11, 27, 21, 0), From: "Ramsgate", Age: 34, Kinds: []places.Kind{places.SafeHaven}}, nil)
	if len(opts) != 4 {
		t.Fatalf("%d havens, want 4", len(opts))
	}
	first := opts[0]
	if first.Place.ID != "haven-margate" || !first.Usable || !first.Open || first.Km < 3 || first.Km > 8 {
		t.Fatalf("first choice %+v, want the Thanet haven in Margate, open, about 5 km away", first)
	}
	if !first.Until.Equal(at(2026, 11, 27, 23, 0)) {
		t.Fatalf("the haven is open until %v, want 23:00", first.Until)
	}
	for i := 1; i < len(opts); i++ {
		if opts[i].Km < opts[i-1].Km {
			t.Fatalf("havens not nearest first: %s %.1f km before %s %.1f km", opts[i-1].Place.Name, opts[i-1].Km, opts[i].Place.Name, opts[i].Km)
		}
	}
}

// A 16-year-old walks into a haven for adults at 19:00: the haven is not for
// them, in words, and the places that are open for a 16-year-old now are
// shown first.
func TestASixteenYearOldIsToldTheHavenIsForAdultsAndWhereToGo(t *testing.T) {
	d := kent(t)
	now := at(2026, 11, 26, 19, 0)
	opts := d.Route(places.Need{At: now, From: "Margate", Age: 16}, nil)
	var haven places.Option
	for _, o := range opts {
		if o.Place.ID == "haven-margate" {
			haven = o
		}
	}
	if haven.Usable || len(haven.Why) != 1 || haven.Why[0] != "not for this person: it is for people aged 18 and over, and the person is 16" {
		t.Fatalf("the haven for a 16-year-old: usable %v, why %q", haven.Usable, haven.Why)
	}
	if !opts[0].Usable || !opts[0].Place.ForAge(16) {
		t.Fatalf("first option for a 16-year-old: %+v", opts[0])
	}
	var childrensLiaison bool
	for _, o := range opts {
		if o.Usable && o.Place.Kind == places.LiaisonPsychiatry && o.Place.MaxAge != nil {
			childrensLiaison = true
		}
		if o.Usable && !o.Place.ForAge(16) {
			t.Fatalf("%s offered to a 16-year-old", o.Place.Name)
		}
	}
	if !childrensLiaison {
		t.Fatal("no children and young people's liaison service offered at 19:00")
	}
}

// A referral at 23:30 to a haven that closed at 23:00 is told it is closed
// and when it opens next; at 22:50 it is open until 23:00.
func TestAReferralAfterClosingIsToldTheNextOpening(t *testing.T) {
	d := kent(t)
	need := places.Need{At: at(2026, 11, 25, 23, 30), From: "Canterbury", Age: 40, Kinds: []places.Kind{places.SafeHaven}, Referred: true}
	opts := d.Route(need, nil)
	for _, o := range opts {
		if o.Usable || o.Open {
			t.Fatalf("%s usable at 23:30", o.Place.Name)
		}
	}
	if opts[0].Place.ID != "haven-canterbury" || opts[0].Why[0] != "closed at this hour; it opens tomorrow 18:00" {
		t.Fatalf("first %s: %q", opts[0].Place.Name, opts[0].Why)
	}
	need.At = at(2026, 11, 25, 22, 50)
	if o := d.Route(need, nil)[0]; !o.Usable || !o.Until.Equal(at(2026, 11, 25, 23, 0)) {
		t.Fatalf("at 22:50: %+v", o)
	}
}

// A second child detained under s136 while the Dartford suite holds one: the
// suite has no room (two beds, but once a child is placed the other cannot
// be used), the adult suites are not for a child, and a children's liaison
// service open at that hour is where there is room.
func TestASecondChildIsShownTheChildrensSuiteHasNoRoomAndWhereDoes(t *testing.T) {
	d := kent(t)
	now := at(2026, 11, 25, 20, 0)
	live := places.Live{"pos-dartford-children": {Free: free(1), At: now.Add(-2 * time.Hour), By: "Nurse in charge, Dartford suite"}}
	opts := d.Route(places.Need{At: now, From: "Gravesend", Age: 15, Kinds: []places.Kind{places.HealthBasedPlaceOfSafety, places.LiaisonPsychiatry}, Referred: true}, live)
	var suite places.Option
	for _, o := range opts {
		if o.Place.ID == "pos-dartford-children" {
			suite = o
		}
	}
	if suite.Usable || suite.Free != 0 || len(suite.Why) != 1 || !strings.Contains(suite.Why[0], "no room: someone is placed there already") ||
		!strings.Contains(suite.Why[0], "1 of 2 free, said today 18:00 by Nurse in charge, Dartford suite") {
		t.Fatalf("the children's suite: usable %v free %d why %q", suite.Usable, suite.Free, suite.Why)
	}
	first := opts[0]
	if !first.Usable || first.Place.Kind != places.LiaisonPsychiatry || !first.Place.ForAge(15) {
		t.Fatalf("where there is room for a 15-year-old: %+v", first)
	}
	for _, o := range opts {
		if o.Place.Kind == places.HealthBasedPlaceOfSafety && o.Usable {
			t.Fatalf("%s offered for a child while the only children's suite is occupied", o.Place.Name)
		}
	}
	// With the suite empty, it is the first place of safety for a child.
	live["pos-dartford-children"] = places.State{Free: free(2), At: now, By: "Nurse in charge, Dartford suite"}
	if o := d.Route(places.Need{At: now, From: "Gravesend", Age: 15, Kinds: []places.Kind{places.HealthBasedPlaceOfSafety}, Referred: true}, live)[0]; o.Place.ID != "pos-dartford-children" || !o.Usable || o.Free != 2 {
		t.Fatalf("the empty children's suite: %+v", o)
	}
}

// A provider who closes early (a staff shortage) says so, and the desk sees
// who said it and when the place opens next; a full haven is shown full.
func TestAProviderClosingEarlyOrFullIsShownWithWhoSaidSo(t *testing.T) {
	d := kent(t)
	now := at(2026, 11, 25, 20, 0)
	live := places.Live{
		"haven-maidstone":  {Closed: true, Reason: "no staff tonight", At: now.Add(-30 * time.Minute), By: "Duty manager, Mental Health Matters"},
		"haven-gillingham": {Free: free(0), At: now.Add(-10 * time.Minute), By: "Haven worker Sam"},
	}
	opts := d.Route(places.Need{At: now, From: "Maidstone", Age: 30, Kinds: []places.Kind{places.SafeHaven}}, live)
	why := map[string][]string{}
	for _, o := range opts {
		why[o.Place.ID] = o.Why
	}
	if w := why["haven-maidstone"]; len(w) != 1 || w[0] != "closed now, said today 19:30 by Duty manager, Mental Health Matters: no staff tonight; it opens next tomorrow 18:00" {
		t.Fatalf("Maidstone: %q", w)
	}
	if w := why["haven-gillingham"]; len(w) != 1 || w[0] != "no room: 0 of 6 free, said today 19:50 by Haven worker Sam" {
		t.Fatalf("Gillingham: %q", w)
	}
	if !opts[0].Usable || opts[0].Place.ID != "haven-canterbury" {
		t.Fatalf("nearest haven with room from Maidstone: %s", opts[0].Place.ID)
	}
}

// A directory with mistakes is refused with each mistake named, by its
// place or by where it is in the file; nothing is half-loaded.
func TestABadDirectoryIsRefusedNamingEachMistake(t *testing.T) {
	good := func() string {
		return `{"area":"Kent","bankHolidays":[],"places":[
			{"id":"a","name":"A","kind":"safe_haven","town":"Margate","access":"open_access","hours":{"always":true}},
			{"id":"b","name":"B","kind":"crisis_cafe","town":"Deal","access":"open_access","hours":{"weekly":[{"days":["mon"],"opens":"17:00","closes":"22:00"}],"bankHolidays":"closed"}}]}`
	}
	if _, err := places.Load([]byte(good())); err != nil {
		t.Fatalf("a good directory is refused: %v", err)
	}
	cases := []struct{ what, raw, says string }{
		{"an hour past 23", strings.Replace(good(), `"22:00"`, `"25:00"`, 1), "/places/1/hours/weekly/0/closes: does not match the pattern"},
		{"a town not bundled", strings.Replace(good(), `"Deal"`, `"Atlantis"`, 1), `place b: town "Atlantis" is not one of the bundled towns`},
		{"an id twice", strings.Replace(good(), `"id":"b"`, `"id":"a"`, 1), "place a: the id is used twice"},
		{"weekly hours with no bank holiday rule", strings.Replace(good(), `,"bankHolidays":"closed"`, ``, 1), "/places/1/hours"},
		{"a repeated key", strings.Replace(good(), `"area":"Kent"`, `"area":"Kent","area":"Medway"`, 1), "area"},
		{"an unknown field", strings.Replace(good(), `"id":"a",`, `"id":"a","beds":3,`, 1), "/places/0"},
		{"a provider that is not an agency", strings.Replace(good(), `"id":"a",`, `"id":"a","provider":"council",`, 1), `place a: provider "council" is not one of the pathway agencies`},
		{"ages the wrong way round", strings.Replace(good(), `"id":"a",`, `"id":"a","minAge":18,"maxAge":16,`, 1), "place a: minAge 18 is above maxAge 16"},
	}
	for _, c := range cases {
		d, err := places.Load([]byte(c.raw))
		if err == nil || d != nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want a refusal saying %q", c.what, err, c.says)
		}
	}
	if _, err := places.Load(bytes.Repeat([]byte{0xff}, 3)); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Errorf("bytes that are not text: %v", err)
	}
}
