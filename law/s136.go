// Package law states the Mental Health Act 1983 (as amended by the Policing
// and Crime Act 2017) rules crisisbus keeps, as pure functions over plain
// facts. Each rule cites its section. Services call these functions to refuse
// a command (the police service refusing an under-18 at a police station, the
// AMHP service refusing an extension after expiry) and the clock service calls
// them to compute when the s136 period ends; so the law is written once.
//
// A refusal is an error that wraps one of the Rule values below: test it with
// errors.Is(err, law.ErrExtensionAfterExpiry), or read the section with
// errors.As(err, &rule). Its message names the section and what was wrong.
package law

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// The periods the Act sets.
const (
	// PermittedPeriod is how long a person may be detained under s136 for
	// assessment (s136(2A), 24 hours since 11 December 2017; 72 before).
	PermittedPeriod = 24 * time.Hour
	// MaxExtension is the longest extension the examining doctor may
	// authorise (s136B): at most 12 hours, once.
	MaxExtension = 12 * time.Hour
	// WelfareCheckInterval is how often the welfare of a person held in a
	// police station must be checked (Mental Health Act 1983 (Places of
	// Safety) Regulations 2017, SI 2017/1036: at least every 30 minutes).
	WelfareCheckInterval = 30 * time.Minute
	// AdultAge is the age from which a police station may be a place of
	// safety at all (s136A(1)).
	AdultAge = 18
)

// Rule is a rule of the Act that a command broke. Refusals wrap one of the
// exported Rule values, so callers match them with errors.Is.
type Rule struct {
	Section string // e.g. "s136B"
	Text    string // the rule, in a sentence
}

func (r *Rule) Error() string { return r.Section + ": " + r.Text }

// The rules, each a sentinel error.
var (
	ErrNotStarted = &Rule{"s136(2A)",
		"the permitted period has not started: it begins on arrival at the place of safety, or when the decision to keep the person where they are is made"}
	ErrEnded = &Rule{"s136(2A)",
		"the detention has already ended (the assessment concluded or the person was released)"}
	ErrExtensionNotByDoctor = &Rule{"s136B",
		"only the registered medical practitioner responsible for the person's examination may extend the permitted period"}
	ErrExtensionAfterExpiry = &Rule{"s136B",
		"an extension must be made before the 24-hour permitted period expires"}
	ErrExtensionTooLong = &Rule{"s136B",
		"an extension is for at most 12 hours"}
	ErrExtensionNotPositive = &Rule{"s136B",
		"an extension must be for a positive period"}
	ErrExtensionNoReason = &Rule{"s136B",
		"an extension needs the reason: the person's condition makes it impracticable to complete the assessment in time"}
	ErrExtensionAgain = &Rule{"s136B",
		"the permitted period may be extended only once"}
	ErrExtensionNoSuperintendent = &Rule{"s136B",
		"when the person is held at a police station, an extension needs the approval of an officer of the rank of superintendent or above"}
	ErrChildInPoliceStation = &Rule{"s136A(1)",
		"a police station may never be used as a place of safety for a person under 18"}
	ErrPoliceStationConditions = &Rule{"s136A(2); Places of Safety Regulations 2017",
		"an adult may be held in a police station only when every recorded condition is met"}
	ErrPrivateDwelling = &Rule{"s136(1)",
		"s136 may not be used in a private dwelling, its garden or its outbuildings"}
	ErrNotConsulted = &Rule{"s136(1C)",
		"record the consultation before the s136 decision, or that it was not practicable"}
)

// CheckConsulted reports whether an s136 decision may be made (s136(1C)):
// before deciding to remove or keep a person the officer must, if
// practicable, consult a registered medical practitioner, nurse, AMHP,
// occupational therapist or paramedic; the consultation, or that it was not
// practicable, is recorded first. recorded says whether it is.
func CheckConsulted(recorded bool) error {
	if !recorded {
		return ErrNotConsulted
	}
	return nil
}

// Role is the role of the person making a decision.
type Role string

// Roles that matter to the rules.
const (
	// ExaminingDoctor is the registered medical practitioner responsible for
	// the examination under s136.
	ExaminingDoctor Role = "examining_doctor"
	PoliceOfficer   Role = "police_officer"
	AMHP            Role = "amhp"
	Nurse           Role = "nurse"
)

// Detention is what is known of one s136 detention: the facts the police and
// the AMHP service record. Zero times mean "not yet".
type Detention struct {
	DetainedAt       time.Time        `json:"detainedAt,omitzero"`        // when the officer detained the person
	KeptWhereTheyAre bool             `json:"keptWhereTheyAre,omitempty"` // kept at the place they were found (s136(2A)(b))
	AgeYears         int              `json:"ageYears,omitempty"`         // the person's age
	ArrivedAt        time.Time        `json:"arrivedAt,omitzero"`         // first arrival at a place of safety (s136(2A)(a))
	Place            events.PlaceType `json:"place,omitempty"`            // where the person is held now
	Extension        time.Duration    `json:"extension,omitempty"`        // the extension granted, if any (s136B)
	EndedAt          time.Time        `json:"endedAt,omitzero"`           // assessment concluded or person released
}

// Start is when the permitted period begins (s136(2A)): when the decision to
// keep the person where they are was made, or when they first arrived at a
// place of safety. ok is false while neither has happened. A move between
// places of safety (s136(3)) does not restart it.
func (d Detention) Start() (start time.Time, ok bool) {
	if d.KeptWhereTheyAre && !d.DetainedAt.IsZero() {
		return d.DetainedAt, true
	}
	if !d.ArrivedAt.IsZero() {
		return d.ArrivedAt, true
	}
	return time.Time{}, false
}

// Expiry is when the permitted period ends: 24 hours from the start, plus any
// extension (s136(2A), s136B).
func (d Detention) Expiry() (time.Time, bool) {
	start, ok := d.Start()
	if !ok {
		return time.Time{}, false
	}
	return start.Add(PermittedPeriod + d.Extension), true
}

// Running reports whether the detention clock runs at t: started, not ended.
// The clock stops when the assessment concludes or the person is released.
func (d Detention) Running(t time.Time) bool {
	start, ok := d.Start()
	if !ok || t.Before(start) {
		return false
	}
	return d.EndedAt.IsZero() || t.Before(d.EndedAt)
}

// ExtensionRequest is an extension of the permitted period as asked for.
type ExtensionRequest struct {
	By                     Role          // who decides; must be the examining doctor
	Doctor                 string        // the doctor's name
	Length                 time.Duration // at most 12h
	Reason                 string        // why the person's condition makes assessment impracticable in time
	SuperintendentApproval string        // required at a police station
	At                     time.Time     // when it is made; must be before expiry
}

// CheckExtension reports whether the extension may be made, with every rule
// it breaks (s136B). A nil error means the Act allows it.
func CheckExtension(d Detention, x ExtensionRequest) error {
	var errs []error
	if x.By != ExaminingDoctor {
		errs = append(errs, fmt.Errorf("%w (asked for by %s)", ErrExtensionNotByDoctor, orUnknown(string(x.By))))
	}
	switch {
	case x.Length <= 0:
		errs = append(errs, fmt.Errorf("%w (asked for %s)", ErrExtensionNotPositive, x.Length))
	case x.Length > MaxExtension:
		errs = append(errs, fmt.Errorf("%w (asked for %s)", ErrExtensionTooLong, x.Length))
	}
	if strings.TrimSpace(x.Reason) == "" {
		errs = append(errs, ErrExtensionNoReason)
	}
	if d.Place == events.PoliceStation && strings.TrimSpace(x.SuperintendentApproval) == "" {
		errs = append(errs, ErrExtensionNoSuperintendent)
	}
	if d.Extension > 0 {
		errs = append(errs, fmt.Errorf("%w (already extended by %s)", ErrExtensionAgain, d.Extension))
	}
	if expiry, ok := d.Expiry(); !ok {
		errs = append(errs, ErrNotStarted)
	} else {
		if !d.EndedAt.IsZero() && !x.At.Before(d.EndedAt) {
			errs = append(errs, fmt.Errorf("%w (ended %s)", ErrEnded, stamp(d.EndedAt)))
		}
		if !x.At.Before(expiry) {
			errs = append(errs, fmt.Errorf("%w (period expired %s, extension asked %s, %s late)",
				ErrExtensionAfterExpiry, stamp(expiry), stamp(x.At), x.At.Sub(expiry)))
		}
	}
	return errors.Join(errs...)
}

// Extend returns the detention with the extension applied, or the refusal.
func Extend(d Detention, x ExtensionRequest) (Detention, error) {
	if err := CheckExtension(d, x); err != nil {
		return d, err
	}
	d.Extension = x.Length
	return d, nil
}

// CheckPlaceOfSafety reports whether a person of the given age may be held at
// a place of that type. A police station is never a place of safety for a
// child (s136A(1)); for an adult only when the conditions of the Places of
// Safety Regulations 2017 are recorded (cond must not be nil): imminent risk
// of serious injury or death, no other place can reasonably be expected to
// detain them, an inspector's authorisation, and a health professional
// consulted where practicable.
func CheckPlaceOfSafety(ageYears int, place events.PlaceType, cond *events.PoliceStationConditions) error {
	if place != events.PoliceStation {
		return nil
	}
	if ageYears <= 0 {
		return fmt.Errorf("%w (the person's age is not recorded)", ErrChildInPoliceStation)
	}
	if ageYears < AdultAge {
		return fmt.Errorf("%w (the person is %d)", ErrChildInPoliceStation, ageYears)
	}
	if missing := MissingPoliceStationConditions(cond); len(missing) > 0 {
		return fmt.Errorf("%w (not recorded: %s)", ErrPoliceStationConditions, strings.Join(missing, "; "))
	}
	return nil
}

// MissingPoliceStationConditions names each condition not recorded.
func MissingPoliceStationConditions(c *events.PoliceStationConditions) []string {
	all := []string{
		"imminent risk of serious injury or death",
		"no other place of safety can reasonably be expected to detain the person",
		"authorisation by an officer of the rank of inspector or above",
		"a health professional consulted where practicable",
	}
	if c == nil {
		return all
	}
	var missing []string
	for i, ok := range []bool{c.ImminentRiskOfSeriousHarm, c.NoOtherPlaceAvailable,
		strings.TrimSpace(c.InspectorAuthorisation) != "", c.HealthProfessionalConsulted} {
		if !ok {
			missing = append(missing, all[i])
		}
	}
	return missing
}

// dwellingWords mark a location type that is a private dwelling or part of
// one: any house, flat or room where a person lives, its yard, garden,
// garage or outhouse (s136(1), (1A)).
var dwellingWords = []string{"dwelling", "home", "house", "flat", "garden", "outbuilding", "residence"}

// CheckDetentionLocation refuses s136 in a private dwelling, its garden or
// outbuildings (s136(1)): consider a s135 warrant instead.
func CheckDetentionLocation(locationType string) error {
	lt := strings.ToLower(locationType)
	for _, w := range dwellingWords {
		if strings.Contains(lt, w) {
			return fmt.Errorf("%w (location: %s; consider a s135 warrant)", ErrPrivateDwelling, strings.ReplaceAll(locationType, "_", " "))
		}
	}
	return nil
}

// ErrRecommendations: an application for admission under s2 or s3 needs two
// medical recommendations, one of them from a doctor approved under s12.
var ErrRecommendations = &Rule{"s2(3), s3(3), s12(2)",
	"detention under s2 or s3 needs two medical recommendations, one from an s12-approved doctor"}

// CheckRecommendations reports whether an assessment outcome may be
// detention, given how many doctors recommended it and how many of them are
// s12-approved. Outcomes other than detained_s2 and detained_s3 need none.
func CheckRecommendations(outcome string, doctors, s12Approved int) error {
	if outcome != "detained_s2" && outcome != "detained_s3" {
		return nil
	}
	if doctors < 2 || s12Approved < 1 {
		return fmt.Errorf("%w (have %d doctors, %d s12-approved)", ErrRecommendations, doctors, s12Approved)
	}
	return nil
}

// WelfareCheckDue is when the next welfare check of a person held in a police
// station is due, given the last check (or the arrival).
func WelfareCheckDue(last time.Time) time.Time { return last.Add(WelfareCheckInterval) }

// NeedsWelfareChecks reports whether the place requires 30-minute welfare
// checks: a police station (Places of Safety Regulations 2017).
func NeedsWelfareChecks(place events.PlaceType) bool { return place == events.PoliceStation }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed role"
	}
	return s
}
