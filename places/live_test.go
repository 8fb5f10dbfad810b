package places_test

import (
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/places"
)

// Each place has one id on the bus, the same wherever it is computed, and
// no two places share one.
func TestEachPlaceHasItsOwnSubjectOnTheBus(t *testing.T) {
	d := kent(t)
	seen := map[string]string{}
	for _, p := range d.Places {
		s := places.Subject(p.ID)
		if err := events.CheckID("episode", s); err != nil {
			t.Fatalf("%s: subject %q does not fit the subject scheme: %v", p.ID, s, err)
		}
		if other, ok := seen[s]; ok {
			t.Fatalf("%s and %s share the subject %s", p.ID, other, s)
		}
		seen[s] = p.ID
		if places.Subject(p.ID) != s {
			t.Fatalf("%s: the subject changes between calls", p.ID)
		}
	}
}

// Only the agency that provides a place may update it: the trust its
// places of safety, the safe haven service its havens, police street
// triage; a refusal says who does.
func TestOnlyAPlacesProviderMayUpdateIt(t *testing.T) {
	d := kent(t)
	one := free(1)
	cases := []struct {
		who   events.Agency
		u     events.PlaceUpdated
		kind  events.Kind
		says  string
		allow bool
	}{
		{events.SPoA, events.PlaceUpdated{Place: "pos-dartford-children", Free: one}, "", "", true},
		{events.SafeHaven, events.PlaceUpdated{Place: "haven-margate", Free: free(0)}, "", "", true},
		{events.Police, events.PlaceUpdated{Place: "street-triage", Closed: true, Reason: "no nurse tonight"}, "", "", true},
		{events.Police, events.PlaceUpdated{Place: "pos-dartford-children", Free: one}, events.Forbidden, "it is updated by Single point of access", false},
		{events.SafeHaven, events.PlaceUpdated{Place: "pos-maidstone-adults", Free: one}, events.Forbidden, "does not provide", false},
		{events.Ambulance, events.PlaceUpdated{Place: "cafe-thanet", Closed: true, Reason: "x"}, events.Forbidden, "nobody on the bus", false},
		{events.SPoA, events.PlaceUpdated{Place: "pos-nowhere"}, events.Invalid, `place "pos-nowhere" is not in the directory`, false},
		{events.SPoA, events.PlaceUpdated{Place: "pos-dartford-children", Free: free(3)}, events.Invalid, "has 2 places: give 0 to 2", false},
		{events.SafeHaven, events.PlaceUpdated{Place: "haven-margate", Closed: true}, events.Invalid, "reason is required", false},
	}
	for _, c := range cases {
		err := d.CheckUpdate(c.who, c.u)
		if c.allow {
			if err != nil {
				t.Errorf("%s updating %s: refused: %v", c.who, c.u.Place, err)
			}
			continue
		}
		if err == nil || events.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s updating %s: %v, want a %s refusal saying %q", c.who, c.u.Place, err, c.kind, c.says)
		}
	}
}

// The live state is the latest word of each place's provider, whatever the
// order the words arrive in; a word from an agency that does not provide
// the place changes nothing.
func TestLiveStateIsTheProvidersLatestWord(t *testing.T) {
	d := kent(t)
	t0 := at(2026, 11, 20, 18, 0)
	full := places.Update{From: events.SPoA, PlaceUpdated: events.PlaceUpdated{Place: "pos-dartford-children", Free: free(1)}, At: t0.Add(time.Hour), By: "Nurse Ade"}
	empty := places.Update{From: events.SPoA, PlaceUpdated: events.PlaceUpdated{Place: "pos-dartford-children", Free: free(2)}, At: t0, By: "Nurse Bo"}
	forged := places.Update{From: events.Police, PlaceUpdated: events.PlaceUpdated{Place: "pos-dartford-children", Free: free(2)}, At: t0.Add(2 * time.Hour), By: "PC Dee"}
	for _, order := range [][]places.Update{{empty, full, forged}, {forged, full, empty}} {
		live := places.Live{}
		for _, u := range order {
			_, err := live.Apply(d, u)
			if u.From == events.Police && err == nil {
				t.Fatal("an update by police of the trust's suite was applied")
			}
		}
		st := live["pos-dartford-children"]
		if st.Free == nil || *st.Free != 1 || st.By != "Nurse Ade" || !st.At.Equal(t0.Add(time.Hour)) {
			t.Fatalf("the suite's state is %+v, want 1 free said at 19:00 by Nurse Ade", st)
		}
	}
}
