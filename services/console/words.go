package console

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The contract (schemas/v1) refuses a fact with a schema's words: "/data/
// givenName: maxLength: got 201, want 200". A person at a form is told
// instead, on the field it is about, what to change, in their words.

// fieldNames are the form's fields as a person reads them, by the name the
// contract and the form share.
var fieldNames = map[string]string{
	"callerAccount": "What the caller says is happening",
	"location":      "Where the person is",
	"concern":       "What you need advice on",
	"givenName":     "The first name",
	"familyName":    "The family name",
	"knownAs":       "The name they go by",
	"description":   "The description",
	"ageYears":      "The age",
	"nhsNumber":     "The NHS number",
	"dateOfBirth":   "The date of birth",
	"phone":         "The phone number",
	"ownWords":      "What they want services to know",
	"whoToContact":  "Who they want contacted",
	"summary":       "What the caller says is happening",
	"reason":        "The reason",
	"detail":        "The detail",
	"notes":         "The notes",
}

// nobodyNamed is what a person is told when nothing about who the person is
// was given: the contract asks for any one part, never a whole name.
const nobodyNamed = "Enter anything the caller knows about who the person is: a first name, the name they go by, an approximate age or a description"

var (
	problemAt  = regexp.MustCompile(`^(?:invalid event: )?(?:event \S+ \([a-z_.]+\): )?/data(?:/([A-Za-z0-9]+))?: (.*)$`)
	lengthOver = regexp.MustCompile(`^maxLength: got ([0-9,]+), want ([0-9,]+)`)
	numberOut  = regexp.MustCompile(`^(minimum|maximum): got ([0-9,.-]+), want ([0-9,.-]+)`)
)

// contractInWords turns a refusal by the contract into one message per
// field, in people's words, each on the field of action's form it is
// about; ok is false when msg is not the contract's.
func contractInWords(action, msg string) (errs []fieldError, ok bool) {
	seen := map[string]bool{}
	for _, part := range strings.Split(msg, "; ") {
		m := problemAt.FindStringSubmatch(part)
		if m == nil {
			continue
		}
		field, words := m[1], inWords(m[1], m[2])
		if field == "" && strings.HasPrefix(m[2], "missing property") {
			// A fact with nothing identifying names every part it could
			// have had: the person is told once, on the first name.
			field, words = "givenName", nobodyNamed
		}
		if field == "" || seen[field] {
			continue
		}
		seen[field] = true
		errs = append(errs, fieldError{action + "-" + field, words})
	}
	return errs, len(errs) > 0
}

// inWords says what is wrong with field in people's words.
func inWords(field, problem string) string {
	name, ok := fieldNames[field]
	if !ok {
		name = "This"
	}
	switch {
	case field == "nhsNumber":
		return "Enter a valid NHS number: 10 digits whose last is the check digit, like 943 476 5919"
	case field == "dateOfBirth":
		return "Enter the date of birth as day, month and year, like 02/04/1991"
	case field == "ageYears":
		return "Enter the age as a whole number of years, from 0 to 130; a guess is fine"
	}
	if m := lengthOver.FindStringSubmatch(problem); m != nil {
		return fmt.Sprintf("%s must be %s characters or fewer (it is %s)", name, m[2], m[1])
	}
	if m := numberOut.FindStringSubmatch(problem); m != nil {
		if m[1] == "minimum" {
			return fmt.Sprintf("%s must be %s or more", name, m[3])
		}
		return fmt.Sprintf("%s must be %s or less", name, m[3])
	}
	if strings.HasPrefix(problem, "minLength") || strings.HasPrefix(problem, "missing property") {
		return name + " is empty: enter it, or leave the whole part out"
	}
	return name + " is not in a form crisisbus can record: check it and try again"
}

// whenFrom is a time as people say it, in Europe/London: "today 19:23",
// "yesterday 23:05", "Wed 25 Nov 19:23"; on a day the clocks change, with
// the zone ("today 01:30 BST"), as the hour they repeat shows two times
// alike.
func whenFrom(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t, now = t.In(london), now.In(london)
	day := func(x time.Time) string { return x.Format("2006-01-02") }
	switch day(t) {
	case day(now):
		return "today " + clockAt(t)
	case day(now.AddDate(0, 0, -1)):
		return "yesterday " + clockAt(t)
	case day(now.AddDate(0, 0, 1)):
		return "tomorrow " + clockAt(t)
	}
	return t.Format("Mon 2 Jan ") + clockAt(t)
}

// clockAt is t's time on London's clocks, "15:04", with the zone after it
// ("01:30 BST", "01:30 GMT") on a day the clocks change.
func clockAt(t time.Time) string {
	t = t.In(london)
	if clocksChange(t) {
		return t.Format("15:04 MST")
	}
	return t.Format("15:04")
}

// clocksChange reports whether London's clocks go forward or back on t's day.
func clocksChange(t time.Time) bool {
	t = t.In(london)
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, london)
	_, a := start.Zone()
	_, b := start.AddDate(0, 0, 1).Zone()
	return a != b
}
