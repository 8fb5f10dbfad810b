package console

import (
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/record"
)

// panelAt builds the panel for agency kinds as the record would rank the
// directory at a London time of 26 November 2026 (a Thursday), with the
// live state given.
func panelAt(t *testing.T, kinds []routeKind, hh, mm int, town string, age int, live places.Live) wherePanel {
	t.Helper()
	d, err := places.Default()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, hh, mm, 0, 0, places.London)
	n := places.Need{At: at, From: town, Age: age, Referred: true}
	for _, k := range kinds {
		n.Kinds = append(n.Kinds, k.Kind)
	}
	resp := record.PlacesResponse{At: at.UTC(), Options: d.Route(n, live)}
	return buildPanel(kinds, resp, town, age, func(k routeKind, p places.Place) string { return "/choose/" + p.ID })
}

func optionIn(t *testing.T, w wherePanel, id string) whereOption {
	t.Helper()
	for _, g := range w.Groups {
		for _, o := range g.Options {
			if o.ID == id {
				return o
			}
		}
	}
	t.Fatalf("the panel does not list %s", id)
	return whereOption{}
}

// What a person reads of one place: at 22:45 the Margate haven is closing
// (a referral is too late) and says when it opens again; at 23:30 it is
// closed until tomorrow 18:00; at 21:00 it is open until 23:00, 6 km from
// Ramsgate, and first of what can take a man there now; for a 16-year-old
// it is flagged as not for their age; a full adult suite says it has no
// room and who said so; and the crisis line, which has no form with a
// destination for a café, offers no choice of one.
func TestThePanelSaysOfEachPlaceWhetherItCanTakeThePersonAndWhyNot(t *testing.T) {
	crisisline, police := routeFor["crisisline"], routeFor["police"]

	o := optionIn(t, panelAt(t, crisisline, 22, 45, "Margate", 40, nil), "haven-margate")
	if o.Tag != "Closing" || o.TagClass != "tag--yellow" || o.When != "until 23:00; opens again tomorrow 18:00" ||
		!strings.Contains(strings.Join(o.Why, " "), "Closes at 23:00, in 15 minutes: too late for a referral") || o.Usable {
		t.Errorf("at 22:45 the Margate haven reads %+v", o)
	}
	o = optionIn(t, panelAt(t, crisisline, 23, 30, "Margate", 40, nil), "haven-margate")
	if o.Tag != "Closed" || o.TagClass != "tag--grey" || o.When != "opens tomorrow 18:00" || o.Choose == "" {
		t.Errorf("at 23:30 the Margate haven reads %+v", o)
	}
	if cafe := optionIn(t, panelAt(t, crisisline, 20, 0, "Margate", 40, nil), "cafe-thanet"); cafe.Choose != "" {
		t.Errorf("the crisis line may choose a café, with no form to record it in: %+v", cafe)
	}

	w := panelAt(t, police, 21, 0, "Ramsgate", -1, nil)
	if len(w.Room) == 0 || w.Room[0].ID != "haven-margate" || w.Room[0].Km != "6 km" || w.Room[0].Tag != "Open now" || w.Room[0].When != "until 23:00" {
		t.Errorf("at 21:00 from Ramsgate the first place with room is %+v", w.Room)
	}
	if w.Groups[0].Title != "Safe havens" || w.Groups[0].Options[0].For != "Aged 18 and over, open access" {
		t.Errorf("the first group is %q, its first place for %q", w.Groups[0].Title, w.Groups[0].Options[0].For)
	}
	if len(w.WithRoom) == 0 || w.WithRoom[0].ID != "pos-canterbury-adults" {
		t.Errorf("the health-based places with room from Ramsgate are %+v", w.WithRoom)
	}

	if o := optionIn(t, panelAt(t, police, 21, 0, "Ramsgate", 16, nil), "haven-margate"); o.Tag != "Not for their age" || o.Usable ||
		!strings.Contains(strings.Join(o.Why, " "), "Not for this person: it is for people aged 18 and over, and the person is 16") {
		t.Errorf("for a 16-year-old the Margate haven reads %+v", o)
	}

	zero := 0
	full := places.Live{"pos-canterbury-adults": {Free: &zero, At: time.Date(2026, 11, 26, 20, 10, 0, 0, places.London), By: "Ward manager"}}
	w = panelAt(t, police, 21, 0, "Ramsgate", 40, full)
	o = optionIn(t, w, "pos-canterbury-adults")
	if o.Tag != "No room" || o.TagClass != "tag--orange" || o.Free != "0 of 2 free" ||
		!strings.Contains(strings.Join(o.Why, " "), "No room: 0 of 2 free, said today 20:10 by Ward manager") {
		t.Errorf("the full Canterbury suite reads %+v", o)
	}
	if len(w.WithRoom) == 0 || w.WithRoom[0].ID == "pos-canterbury-adults" {
		t.Errorf("a full suite is among the places with room: %+v", w.WithRoom)
	}
}
