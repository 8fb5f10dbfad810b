package episode

import (
	"errors"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// Facts the law forbids. A command refuses them (403, citing the Act), but
// a fact published directly on the bus (crisisbus publish, an agency's own
// system) is not a command: it happened, so the record keeps it, applies
// it like any other, and raises an alert on the episode naming the rule it
// breaks. The rules are package law's, read against the episode exactly as
// the command reads them (the same functions, the same view), so the fold
// and the command cannot disagree.
//
// Checked: s136 in a private dwelling (s136(1)); s136 decided before the
// consultation or its impracticability is recorded (s136(1C)); a person
// under 18 at a police station, and an adult there without every recorded
// condition (s136A); an extension over 12h, a second one, after the period
// expired, by a doctor not allocated to the assessment, or at a police
// station without a superintendent's approval (s136B); detention under s2
// or s3 without two medical recommendations, one s12-approved.

// Alert is a recorded fact the Mental Health Act forbids. It holds no
// clinical content, so every agency sees it.
type Alert struct {
	EventID string        `json:"eventId"` // the fact
	Type    string        `json:"type"`    // e.g. place_of_safety.arrived
	Agency  events.Agency `json:"agency"`  // who recorded it
	Time    time.Time     `json:"time"`
	Section string        `json:"section"` // of the Act, e.g. s136A(1)
	Text    string        `json:"text"`    // the rule, and what was recorded
}

// Age is the best known age of the person: the one recorded at the s136
// detention, else the one recorded with who they are (0: not known).
func (v *View) Age() int {
	if v.S136 != nil && v.S136.AgeYears > 0 {
		return v.S136.AgeYears
	}
	return v.Person.AgeYears
}

// RoleOf is the role in which a doctor acts on the s136 detention: the
// examining doctor if the AMHP service allocated them to the assessment.
func (v *View) RoleOf(doctor string) law.Role {
	if v.Assessment != nil {
		for _, d := range v.Assessment.Doctors {
			if strings.EqualFold(strings.TrimSpace(d.Name), strings.TrimSpace(doctor)) {
				return law.ExaminingDoctor
			}
		}
	}
	return law.Role("someone who is not an allocated doctor")
}

// Recommendations counts the doctors allocated to the assessment, and how
// many of them are s12-approved.
func (a *Assessment) Recommendations() (doctors, s12Approved int) {
	if a == nil {
		return 0, 0
	}
	for _, d := range a.Doctors {
		if d.S12Approved {
			s12Approved++
		}
	}
	return len(a.Doctors), s12Approved
}

// lawBroken is the rule of the Act the fact breaks on the episode as it
// stands before the fact, or nil.
func (v *View) lawBroken(data any) error {
	switch d := data.(type) {
	case *events.S136Detained:
		return errors.Join(law.CheckDetentionLocation(d.LocationType), law.CheckConsulted(v.Consultation != nil || d.Consulted))
	case *events.PlaceOfSafetyArrived:
		return law.CheckPlaceOfSafety(v.Age(), d.PlaceType, d.PoliceStation)
	case *events.S136Extended:
		if v.S136 == nil {
			return nil
		}
		x := law.ExtensionFromEvent(v.RoleOf(d.Doctor), *d)
		return law.CheckExtension(v.S136.Detention(), x)
	case *events.AssessmentCompleted:
		n, s12 := v.Assessment.Recommendations()
		return law.CheckRecommendations(d.Outcome, n, s12)
	}
	return nil
}

// alert raises an alert for each rule err breaks.
func (v *View) alert(e events.Event, name string, err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, err := range errs {
		a := Alert{EventID: e.ID, Type: name, Agency: e.Source, Time: e.Time, Text: err.Error()}
		var rule *law.Rule
		if errors.As(err, &rule) {
			a.Section = rule.Section
		}
		v.Alerts = append(v.Alerts, a)
	}
}
