// Package places is the directory of where a person in mental health crisis
// can go, and when: the safe havens, the health-based places of safety (the
// children's suite with its two-bed rule among them), the emergency
// departments' liaison psychiatry, street triage, crisis cafés and the
// crisis line; who each is for, their opening hours in Europe/London time
// (past midnight, 24/7, bank holidays) and how many people each can take.
//
// Routing ranks them for one person at one moment: open now, with room,
// for their age, nearest first, and says in words why any other cannot be
// used and when it next opens. The directory is pure: it is loaded from a
// file checked against schemas/places.json (Default is the seed places of
// Kent and Medway), and the live state of each place (open, places free,
// who said so and when) is given to it.
package places

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/schemas"
)

// Kind is what sort of place or service it is.
type Kind string

// Kinds of place.
const (
	SafeHaven                Kind = "safe_haven"
	HealthBasedPlaceOfSafety Kind = "health_based_place_of_safety"
	EmergencyDepartment      Kind = "emergency_department"
	LiaisonPsychiatry        Kind = "liaison_psychiatry"
	StreetTriage             Kind = "street_triage"
	CrisisCafe               Kind = "crisis_cafe"
	CrisisLine               Kind = "crisis_line"
)

// Kinds is every kind of place, in the order the contract lists them.
var Kinds = []Kind{SafeHaven, HealthBasedPlaceOfSafety, EmergencyDepartment, LiaisonPsychiatry, StreetTriage, CrisisCafe, CrisisLine}

// IsTown reports whether name is one of the bundled towns (any case).
func IsTown(name string) bool { _, ok := findTown(name); return ok }

// Access says who may use a place.
const (
	OpenAccess = "open_access" // anyone may walk in or be brought
	Referral   = "referral"    // only when a service refers the person
)

// Place is one entry of the directory.
type Place struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Kind          Kind   `json:"kind"`
	RunBy         string `json:"runBy,omitempty"`    // the organisation that runs it
	Provider      string `json:"provider,omitempty"` // the agency that may update it on the bus (place.updated)
	Address       string `json:"address,omitempty"`
	Town          string `json:"town"`
	Phone         string `json:"phone,omitempty"`
	MinAge        *int   `json:"minAge,omitempty"`
	MaxAge        *int   `json:"maxAge,omitempty"`
	Access        string `json:"access"`
	Capacity      int    `json:"capacity,omitempty"`
	SoleOccupancy bool   `json:"soleOccupancy,omitempty"`
	Hours         Hours  `json:"hours"`
	Note          string `json:"note,omitempty"`
}

// ForAge says whether the place takes a person of that age; an unknown age
// (negative) is taken everywhere, and the desk is told to check.
func (p Place) ForAge(age int) bool {
	if age < 0 {
		return true
	}
	return (p.MinAge == nil || age >= *p.MinAge) && (p.MaxAge == nil || age <= *p.MaxAge)
}

// ages says who the place is for, in words.
func (p Place) ages() string {
	switch {
	case p.MinAge != nil && p.MaxAge != nil:
		return fmt.Sprintf("for people aged %d to %d", *p.MinAge, *p.MaxAge)
	case p.MinAge != nil:
		return fmt.Sprintf("for people aged %d and over", *p.MinAge)
	case p.MaxAge != nil:
		return fmt.Sprintf("for people aged %d and under", *p.MaxAge)
	}
	return "for people of any age"
}

// Directory is every place of an area, and the area's bank holidays.
type Directory struct {
	Area         string   `json:"area"`
	Source       string   `json:"source,omitempty"`
	BankHolidays []string `json:"bankHolidays"`
	Places       []Place  `json:"places"`

	holidays map[string]bool
}

//go:embed kent-and-medway.json
var kentAndMedway []byte

// Default is the directory of Kent and Medway from the seed documents,
// loaded once; callers share it and only read it.
func Default() (*Directory, error) { return loadDefault() }

var loadDefault = sync.OnceValues(func() (*Directory, error) { return Load(kentAndMedway) })

// Load reads a directory: checked against schemas/places.json, then for
// what a schema cannot say (each id once, every town a bundled one, ages in
// order). Every problem is named with the place it is about.
func Load(raw []byte) (*Directory, error) {
	if err := schemas.ValidateDocument("places.json", raw); err != nil {
		return nil, fmt.Errorf("directory of places: %w", err)
	}
	var d Directory
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("directory of places: %w", err)
	}
	var problems []string
	seen := map[string]bool{}
	for _, p := range d.Places {
		if seen[p.ID] {
			problems = append(problems, fmt.Sprintf("place %s: the id is used twice", p.ID))
		}
		seen[p.ID] = true
		if _, ok := findTown(p.Town); !ok {
			problems = append(problems, fmt.Sprintf("place %s: town %q is not one of the bundled towns (%s)", p.ID, p.Town, strings.Join(Towns(), ", ")))
		}
		if p.MinAge != nil && p.MaxAge != nil && *p.MinAge > *p.MaxAge {
			problems = append(problems, fmt.Sprintf("place %s: minAge %d is above maxAge %d", p.ID, *p.MinAge, *p.MaxAge))
		}
		if p.Provider != "" {
			if a, err := events.ParseAgency(p.Provider); err != nil || !a.Pathway() {
				problems = append(problems, fmt.Sprintf("place %s: provider %q is not one of the pathway agencies %v", p.ID, p.Provider, events.Agencies))
			}
		}
		if p.SoleOccupancy && p.Capacity == 0 {
			problems = append(problems, fmt.Sprintf("place %s: soleOccupancy needs a capacity", p.ID))
		}
		if err := p.Hours.check(); err != nil {
			problems = append(problems, fmt.Sprintf("place %s: %v", p.ID, err))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("directory of places: %s", strings.Join(problems, "; "))
	}
	d.holidays = map[string]bool{}
	for _, h := range d.BankHolidays {
		d.holidays[h] = true
	}
	return &d, nil
}

// Place returns the place with that id.
func (d *Directory) Place(id string) (Place, bool) {
	i := slices.IndexFunc(d.Places, func(p Place) bool { return p.ID == id })
	if i < 0 {
		return Place{}, false
	}
	return d.Places[i], true
}

// HolidaysKnownUntil is the last bank holiday the directory knows; after
// the end of that year, bank holidays are taken as ordinary days, and the
// operator is told so (Warnings).
func (d *Directory) HolidaysKnownUntil() string {
	if len(d.BankHolidays) == 0 {
		return ""
	}
	return slices.Max(d.BankHolidays)
}

// Warnings are what the people who run crisisbus should act on about the
// directory at t, in words.
func (d *Directory) Warnings(t time.Time) []string {
	last := d.HolidaysKnownUntil()
	year := t.In(London).Year()
	if last == "" || last[:4] < fmt.Sprint(year) {
		return []string{fmt.Sprintf("the directory of places knows no bank holidays in %d: places closed or on Sunday hours on bank holidays will be shown open as on ordinary days until the list is updated", year)}
	}
	return nil
}

// OpenAt reports whether the place is open at t by its hours, and until when.
func (d *Directory) OpenAt(p Place, t time.Time) (bool, time.Time) {
	return p.Hours.OpenAt(t, d.holidays)
}

// NextOpen is when the place next opens after t by its hours.
func (d *Directory) NextOpen(p Place, t time.Time) (time.Time, bool) {
	return p.Hours.NextOpen(t, d.holidays)
}
