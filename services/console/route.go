package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/safehaven"
)

// "Where they can go now": when the police, SPoA, the ambulance EOC or the
// crisis line choose where a person goes, the episode page lists the places
// of the live directory that fit what they choose between, as the record
// ranks them for this person (services/record, places.go): open now and
// with room for their age first, nearest to their town first, then the
// others with why not and when they next open. Choosing one fills the
// destination of the form it belongs to. The question goes to the record
// on the agency's own subject (record.PlacesSubject of the signed-in
// person's agency, never one named in the request), and carries only the
// town, the person's age and the kinds of place sought: nothing else of
// the person, and nothing of anyone else comes back.

// routeFor is, for each agency that chooses where a person goes, the kinds
// of place it chooses between, in the order the panel shows them, and for
// each kind the form that records the choice (none: shown, not chosen).
var routeFor = map[events.Agency][]routeKind{
	events.Police: {
		{places.SafeHaven, "Safe havens", "offer"},
		{places.HealthBasedPlaceOfSafety, "Health-based places of safety", "pos"},
		{places.LiaisonPsychiatry, "Emergency departments with liaison psychiatry", "pos"},
		{places.StreetTriage, "Street triage", ""},
		{places.CrisisCafe, "Crisis cafés", ""},
	},
	events.SPoA: {
		{places.SafeHaven, "Safe havens", "route"},
		{places.CrisisCafe, "Crisis cafés", "route"},
		{places.LiaisonPsychiatry, "Emergency departments with liaison psychiatry", "route"},
		{places.HealthBasedPlaceOfSafety, "Health-based places of safety", ""},
	},
	events.Ambulance: {
		{places.SafeHaven, "Safe havens", "conveyance"},
		{places.LiaisonPsychiatry, "Emergency departments with liaison psychiatry", "conveyance"},
		{places.HealthBasedPlaceOfSafety, "Health-based places of safety", "conveyance"},
		{places.CrisisCafe, "Crisis cafés", "conveyance"},
	},
	events.Crisisline: {
		{places.SafeHaven, "Safe havens", "offer"},
		{places.CrisisCafe, "Crisis cafés", ""},
	},
}

// routeKind is one kind of place an agency chooses between.
type routeKind struct {
	Kind  places.Kind
	Title string
	Form  string // "offer", "pos" (the detention or arrival), "route", "conveyance"; "" none
}

// wherePanel is the panel: the places for the person, by kind.
type wherePanel struct {
	Town      string // the town ranked from; "" not known
	TownError string // the town asked for is not one of the table's
	Towns     []string
	Age       int // -1 not known
	At        time.Time
	Groups    []whereGroup
	Room      []whereOption // every place that can take them now, nearest first
	Warnings  []string      // the directory's own (bank holidays running out)
	Err       string        // the record could not answer
	// WithRoom are the health-based places of safety open with room for
	// the person now: a police station used instead is recorded with them.
	WithRoom []whereOption
	Chosen   string // the place just chosen, by name
}

type whereGroup struct {
	Title   string
	Options []whereOption
}

// whereOption is one place as the panel shows it.
type whereOption struct {
	ID, Name, Town string
	Km             string // "6 km", "" not known
	Tag, TagClass  string // open now, closing, closed, no room, not for their age
	When           string // "until 23:00", "opens tomorrow 18:00"
	Free           string // "1 of 2 free", "" not counted
	For            string // who it is for
	Why            []string
	Usable         bool
	Choose         string // the address that fills the form with it; "" none
}

// posArgs gives the "pos-reason" template the page and the form it is on
// (detain or arrive).
type posArgs struct {
	Page   page
	Action string
}

// closingSoon is when an open place is flagged as closing: a referral
// then is too late (the safe havens decline it, safehaven.ReferralCutoff).
const closingSoon = safehaven.ReferralCutoff

// buildPanel turns the record's ranking into the panel.
func buildPanel(kinds []routeKind, resp record.PlacesResponse, town string, age int, choose func(routeKind, places.Place) string) wherePanel {
	w := wherePanel{Town: town, Age: age, At: resp.At, Towns: places.Towns(), Warnings: resp.Warnings}
	for _, k := range kinds {
		g := whereGroup{Title: k.Title}
		for _, o := range resp.Options {
			if o.Place.Kind != k.Kind {
				continue
			}
			wo := optionOf(o, resp.At, age)
			if k.Form != "" {
				wo.Choose = choose(k, o.Place)
			}
			g.Options = append(g.Options, wo)
			// A police station is for adults only (s136A): the places
			// that could have taken an adult instead.
			if wo.Usable && k.Kind == places.HealthBasedPlaceOfSafety && o.Place.ForAge(max(age, 18)) {
				w.WithRoom = append(w.WithRoom, wo)
			}
		}
		if len(g.Options) > 0 {
			w.Groups = append(w.Groups, g)
		}
	}
	// The record ranks those that can take the person first, nearest first.
	for _, o := range resp.Options {
		if !slices.ContainsFunc(kinds, func(k routeKind) bool { return k.Kind == o.Place.Kind }) {
			continue
		}
		if wo := optionOf(o, resp.At, age); wo.Usable {
			w.Room = append(w.Room, wo)
		}
	}
	return w
}

// optionOf is one of the record's options in the panel's words.
func optionOf(o places.Option, at time.Time, age int) whereOption {
	p := o.Place
	wo := whereOption{ID: p.ID, Name: p.Name, Town: p.Town, Usable: o.Usable, For: forWhom(p)}
	switch {
	case o.Km >= 0 && o.Km < 1:
		wo.Km = "under 1 km"
	case o.Km >= 1:
		wo.Km = fmt.Sprintf("%.0f km", o.Km)
	}
	if o.Free >= 0 && p.Capacity > 0 {
		wo.Free = fmt.Sprintf("%d of %d free", o.Free, p.Capacity)
	}
	for _, why := range o.Why {
		// The hours are said by the tag and its time; every other reason
		// (the provider's word, no room, the age) is shown as it is.
		if !strings.HasPrefix(why, "closed at this hour") {
			wo.Why = append(wo.Why, upperFirst(why))
		}
	}
	switch {
	case o.Open && p.Hours.Always:
		wo.When = "24 hours"
	case o.Open:
		wo.When = "until " + clockOf(at, o.Until)
	case !o.NextOpen.IsZero():
		wo.When = "opens " + whenFrom(at, o.NextOpen)
	}
	full := o.Free == 0 && p.Capacity > 0
	switch {
	case !o.Open:
		wo.Tag, wo.TagClass = "Closed", "tag--grey"
	case full:
		wo.Tag, wo.TagClass = "No room", "tag--orange"
	case !p.ForAge(age):
		wo.Tag, wo.TagClass = "Not for their age", "tag--grey"
	case o.Until.Sub(at) < closingSoon:
		wo.Tag, wo.TagClass = "Closing", "tag--yellow"
		wo.Why = append(wo.Why, fmt.Sprintf("Closes at %s, in %d minutes: too late for a referral", o.Until.In(london).Format("15:04"), int(o.Until.Sub(at).Minutes())))
		wo.Usable = false
		if d, err := directory(); err == nil {
			if next, ok := d.NextOpen(p, o.Until); ok {
				wo.When += "; opens again " + whenFrom(at, next)
			}
		}
	case o.Usable:
		wo.Tag, wo.TagClass = "Open now", "tag--green"
	default:
		wo.Tag, wo.TagClass = "Open", "tag--grey"
	}
	return wo
}

// clockOf is a closing time as people say it: "23:00" today, "tomorrow
// 02:00" after midnight, a day and time further on.
func clockOf(now, t time.Time) string {
	w := whenFrom(now, t)
	if rest, ok := strings.CutPrefix(w, "today "); ok {
		return rest
	}
	return w
}

// forWhom says who a place is for: the ages and whether a referral is needed.
func forWhom(p places.Place) string {
	var ages string
	switch {
	case p.MinAge != nil && p.MaxAge != nil:
		ages = fmt.Sprintf("Ages %d to %d", *p.MinAge, *p.MaxAge)
	case p.MinAge != nil:
		ages = fmt.Sprintf("Aged %d and over", *p.MinAge)
	case p.MaxAge != nil:
		ages = fmt.Sprintf("Aged %d and under", *p.MaxAge)
	default:
		ages = "Any age"
	}
	if p.Access == places.Referral {
		return ages + ", by referral"
	}
	return ages + ", open access"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// wherePanelFor asks the record, on the signed-in person's agency's own
// subject, where the person of v can go now, from town (the episode's when
// ""), and builds the panel. It returns nil for an agency that does not
// choose where people go, or when the agency does not hold the episode.
func (c *Server) wherePanelFor(ctx context.Context, s session, v *episode.View, town string) *wherePanel {
	kinds, ok := routeFor[s.Agency]
	if !ok || v.Owner != s.Agency || v.Closed {
		return nil
	}
	if town == "" {
		place := ""
		if v.S136 != nil {
			place = v.S136.PlaceName
		}
		town = townOf(v.Location, place)
	}
	age := v.Age()
	if age <= 0 {
		age = -1
	}
	req := record.PlacesRequest{Town: town, Referred: true, At: c.cfg.Now().UTC()}
	for _, k := range kinds {
		req.Kinds = append(req.Kinds, k.Kind)
	}
	if age >= 0 {
		req.Age = &age
	}
	resp, err := rpc.Call[record.PlacesRequest, record.PlacesResponse](ctx, c.nc, record.PlacesSubject(s.Agency), req)
	if err != nil {
		c.log.Error("where they can go now", zap.String("episode", logsafe.ID(v.Episode)), zap.String("agency", string(s.Agency)),
			zap.String("cause", logsafe.Cause(err)))
		return &wherePanel{Town: town, Age: age, Towns: places.Towns(), Err: "The places could not be loaded just now. Reload the page to try again; choose as you would without crisisbus meanwhile."}
	}
	w := buildPanel(kinds, resp, town, age, func(k routeKind, p places.Place) string {
		q := url.Values{"choose": {p.ID}}
		if town != "" {
			q.Set("town", town)
		}
		return "/episodes/" + v.Episode + "/places?" + q.Encode() + "#" + formAnchor(k.Form, v)
	})
	return &w
}

// formAnchor is the id of the form a choice fills, on the episode page.
func formAnchor(form string, v *episode.View) string {
	switch form {
	case "pos":
		if v.S136 != nil {
			return "arrival"
		}
		return "detention"
	case "offer":
		return "handon"
	}
	return form
}

// placesPage is the episode page with the panel ranked from the town
// chosen (?town=), and, with ?choose=PLACE, the form that records the
// choice filled with it. Only the agency holding the episode, and only an
// agency that chooses where people go, asks; the town must be one of the
// bundled table's, or the field says so.
func (c *Server) placesPage(w http.ResponseWriter, r *http.Request, id string) {
	s, _ := sessionFrom(r.Context())
	if _, ok := routeFor[s.Agency]; !ok {
		http.Error(w, "The "+s.Agency.Title()+" does not choose where a person goes from the console: there are no places to show.", http.StatusForbidden)
		return
	}
	q := r.URL.Query()
	town := strings.TrimSpace(q.Get("town"))
	p := page{Form: url.Values{}}
	status := http.StatusOK
	if town != "" {
		t, ok := canonicalTown(town)
		if !ok {
			p.Errors = append(p.Errors, fieldError{"places-town", fmt.Sprintf("“%s” is not one of the towns crisisbus can rank places from: choose the town from the list", clip(town))})
			status = http.StatusUnprocessableEntity
		}
		town = t
	}
	c.renderEpisodeWith(w, r, id, status, p, town, q.Get("choose"))
}

// canonicalTown is the bundled town of that name, whatever its case.
func canonicalTown(name string) (string, bool) {
	for _, t := range places.Towns() {
		if strings.EqualFold(t, strings.TrimSpace(name)) {
			return t, true
		}
	}
	return "", false
}

// fillWith fills the form that records the choice of place id, shown
// open on the page: the destination and what goes with it. It returns
// the place's name, or an error for a place the panel did not offer.
func fillWith(p *page, w *wherePanel, v *episode.View, agency events.Agency, id string) error {
	d, err := directory()
	if err != nil {
		return err
	}
	pl, ok := d.Place(id)
	var kind *routeKind
	for _, k := range routeFor[agency] {
		if ok && k.Kind == pl.Kind && k.Form != "" {
			kind = &k
		}
	}
	if kind == nil {
		return fieldErr("places", "That place cannot be chosen here: choose one of the places listed")
	}
	name := pl.Name
	if !strings.Contains(name, pl.Town) {
		name += ", " + pl.Town
	}
	f := url.Values{}
	switch kind.Form {
	case "offer":
		p.Action = "offer"
		f.Set("to", string(events.SafeHaven))
		f.Set("kind", string(events.SafeHavenReferral))
		f.Set("urgency", "urgent")
		f.Set("reason", "Referral to "+name)
	case "pos":
		p.Action = "detain"
		if v.S136 != nil {
			p.Action = "arrive"
		}
		pt := events.PlaceType(pl.Kind)
		if pl.Kind == places.LiaisonPsychiatry {
			pt = events.PlaceType(places.EmergencyDepartment)
		}
		f.Set("placeType", string(pt))
		f.Set("placeName", name)
		f.Set("requestAssessment", "yes") // ticked by default, as on a fresh form
	case "route":
		p.Action = "route"
		f.Set("route", string(pl.Kind))
		f.Set("detail", name)
	case "conveyance":
		p.Action = "conveyance"
		f.Set("conveyed", "yes")
		dest := string(pl.Kind)
		if pl.Kind == places.LiaisonPsychiatry {
			dest = string(places.EmergencyDepartment)
		}
		f.Set("destination", dest)
		f.Set("destinationName", name)
	}
	p.Form = f
	w.Chosen = name
	return nil
}

// The police's arrival at a place of safety, after a detention recorded
// without one: the place chosen (from the panel or typed), and at a police
// station the conditions and why (the police service adds the health-based
// places the directory showed with room).
var arriveAction = action{
	agencies: []events.Agency{events.Police},
	required: [][2]string{{"placeType", "Choose the type of place of safety"}, {"placeName", "Enter the name of the place of safety"}},
	run: func(ctx context.Context, c *Server, in input) (string, string, error) {
		at, err := in.when("arrivedAt")
		if err != nil {
			return in.episode, "", err
		}
		pt := events.PlaceType(in.get("placeType"))
		var cond *events.PoliceStationConditions
		if pt == events.PoliceStation {
			cond = &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: in.yes("imminentRisk"),
				NoOtherPlaceAvailable: in.yes("noOtherPlace"), InspectorAuthorisation: in.get("inspector"), HealthProfessionalConsulted: in.yes("healthConsulted"),
				Reason: in.get("policeStationReason")}
			if !slices.Contains(events.PoliceStationReasons, cond.Reason) {
				return in.episode, "", fieldErr("policeStationReason", "Choose why a police station is used: no health-based place of safety free, or violence that cannot be managed there")
			}
		}
		err = call(ctx, c, in, in.agency, "pos.arrive", police.ArriveRequest{Base: in.base(), PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{
			ArrivedAt: at, PlaceType: pt, PlaceName: in.get("placeName"), PoliceStation: cond}})
		return in.episode, "Arrival at " + in.get("placeName") + " recorded. The 24-hour clock is running.", err
	},
}

func init() { actions["arrive"] = arriveAction }
