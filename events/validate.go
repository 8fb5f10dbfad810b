package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/crisisbus/crisisbus/schemas"
)

var registry = sync.OnceValues(schemas.Load)

// Schemas returns the compiled contract. The schemas are embedded in the
// binary, so an error here is a broken build, reported rather than hidden.
func Schemas() (*schemas.Registry, error) { return registry() }

// Validate checks an event against the whole contract: the envelope schema,
// the data schema of its type, who may publish it, its addressing, and the
// checks JSON Schema cannot express (the NHS number check digit). Every
// publish and every consume calls it; the error names each problem.
func Validate(e Event) error {
	_, err := Encode(e)
	return err
}

// Encode validates an event and returns its JSON.
func Encode(e Event) ([]byte, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	if _, err := Parse(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// Parse decodes and validates one event from JSON.
//
// The envelope schema states every rule of the contract a JSON Schema can
// (schemas/cloudevent.json, generated from the catalogue): the data schema
// of each type, who may publish it, its addressing. Parse checks the
// per-type rules from the catalogue in words, naming the type and the
// agency, validates the envelope, then the data with its type's schema,
// then decodes the data into its Go type and runs the checks JSON Schema
// cannot express.
func Parse(raw []byte) (Event, error) {
	reg, err := registry()
	if err != nil {
		return Event{}, fmt.Errorf("load schemas: %w", err)
	}
	inst, err := schemas.Decode(raw)
	if err != nil {
		return Event{}, err
	}
	if err := catalogueRules(inst); err != nil {
		return Event{}, err
	}
	if err := reg.ValidateEnvelopeValue(inst); err != nil {
		return Event{}, err
	}
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	spec, ok := Lookup(e.Type)
	if !ok { // the envelope's type enum is the catalogue: a broken build
		return e, fmt.Errorf("%w: event %s: type %q is not in the catalogue", ErrUnknownType, e.ID, e.Type)
	}
	var problems []string
	if err := reg.ValidateDataValue(spec.Versioned(), inst.(map[string]any)["data"]); err != nil {
		if se, ok := err.(*schemas.Error); ok {
			problems = append(problems, se.Problems...)
		} else {
			problems = append(problems, err.Error())
		}
	} else {
		problems = append(problems, checkData(e, spec)...)
	}
	if len(problems) > 0 {
		return e, fmt.Errorf("%w: event %s (%s): %s", ErrInvalid, e.ID, spec.Name, strings.Join(problems, "; "))
	}
	return e, nil
}

// catalogueRules checks, in words, the rules the envelope schema states per
// type: the type is in the catalogue, its source may publish it, and it is
// addressed to another agency exactly when its type is addressed.
func catalogueRules(inst any) error {
	m, ok := inst.(map[string]any)
	if !ok {
		return nil // the envelope schema says what is wrong
	}
	id, _ := m["id"].(string)
	typ, ok := m["type"].(string)
	if !ok {
		return nil
	}
	spec, ok := Lookup(typ)
	if !ok {
		return fmt.Errorf("%w: event %s: type %q is not in the catalogue", ErrUnknownType, id, typ)
	}
	src, _ := m["source"].(string)
	if src != "" && !spec.MayPublish(Agency(src)) {
		return fmt.Errorf("%w: event %s: %s may not publish %s (only %v)", ErrNotAuthor, id, src, spec.Name, spec.Publishers)
	}
	to, _ := m["toagency"].(string)
	var problems []string
	if want := schemas.DataSchemaURL(spec.Name, spec.Version); m["dataschema"] != nil && m["dataschema"] != want {
		problems = append(problems, fmt.Sprintf("/dataschema: is %q, want %q", m["dataschema"], want))
	}
	if spec.Addressed && to == "" {
		problems = append(problems, "/toagency: required: "+spec.Name+" is addressed to an agency")
	}
	if !spec.Addressed && to != "" {
		problems = append(problems, "/toagency: "+spec.Name+" is not addressed to an agency")
	}
	if to != "" && to == src {
		problems = append(problems, "/toagency: an agency cannot hand off to itself")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: event %s (%s): %s", ErrInvalid, id, spec.Name, strings.Join(problems, "; "))
	}
	return nil
}

// checks are the rules JSON Schema cannot state, by event type.
var checks = map[string]func(e Event, data any) []string{
	TypePrefix + "person.identified.v1": func(_ Event, data any) []string {
		if d := data.(*PersonIdentified); d.NHSNumber != "" && !ValidNHSNumber(d.NHSNumber) {
			return []string{"/data/nhsNumber: fails the NHS number check digit"}
		}
		return nil
	},
	TypePrefix + "handoff.offered.v1": func(e Event, data any) []string {
		if d := data.(*HandoffOffered); d.To != e.ToAgency {
			return []string{fmt.Sprintf("/data/to: %s differs from toagency %s", d.To, e.ToAgency)}
		}
		return nil
	},
}

// checkData decodes the data into its Go type, so that an event the
// contract accepts is one every Go service can read (the schema and the Go
// types agree on every value), then runs the type's checks in Go.
func checkData(e Event, spec Spec) []string {
	v := spec.Data()
	if err := unmarshalData(e.Data, v); err != nil {
		return []string{"/data: cannot be read as " + spec.Name + ": " + err.Error()}
	}
	if check, ok := checks[e.Type]; ok {
		return check(e, v)
	}
	return nil
}

// ValidNHSNumber reports whether s is ten digits whose tenth is the modulus 11
// check digit of the first nine (weights 10 down to 2; 11 becomes 0; 10 is never valid).
func ValidNHSNumber(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		if i < 9 {
			sum += int(c-'0') * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	return check != 10 && check == int(s[9]-'0')
}
