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
//
// The JSON is the bytes json.Marshal writes. When the envelope could be
// written without reflection (appendEvent) and the quick path finds those
// bytes valid, what Parse would read back is e itself (every string is
// plain, data is the same bytes), so the catalogue's rules and the Go
// checks run on e directly and the verdict is Parse's. Otherwise Parse
// decides, with its words.
//
// Bytes found valid lately (checked.go) are not checked again.
func Encode(e Event) ([]byte, error) { return encode(e, checked) }

// encode is Encode, finding and keeping verdicts in c (nil: none).
func encode(e Event, c *checkedCache) ([]byte, error) {
	if raw, ok := appendEvent(make([]byte, 0, encodedSize(&e)), &e); ok {
		if _, ok := c.get(raw); ok {
			return raw, nil
		}
		reg, err := registry()
		if err != nil {
			return nil, fmt.Errorf("load schemas: %w", err)
		}
		if typ, ok := reg.Quick(raw, versionedName, nil); ok && typ == e.Type {
			if spec, ok := Lookup(typ); ok {
				if err := catalogueRules(attributesOf(e)); err != nil {
					return nil, err
				}
				if problems := checkData(e, spec); len(problems) > 0 {
					return nil, invalid(e, spec, problems)
				}
				// What Parse reads from raw: e, its time as written
				// (without a monotonic clock reading).
				e.Time = e.Time.Round(0)
				c.put(raw, e)
				return raw, nil
			}
		}
		if _, err := Parse(raw); err != nil {
			return nil, err
		}
		return raw, nil
	}
	return encodeReflected(e)
}

// encodeReflected is Encode by encoding/json. It is a function of its own
// so that only an event encoded this way is moved to the heap (json.Marshal
// takes it as an interface), not every event Encode writes.
func encodeReflected(e Event) ([]byte, error) {
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
//
// An event the schemas' quick path (schemas.Registry.Quick) finds valid
// is decoded once and goes straight to the catalogue's rules and the Go
// checks; any other is validated by the general validator, which names
// every problem. Both apply the same schema files, so the verdict and the
// error are the same either way.
//
// Bytes found valid lately (checked.go) are not checked again.
func Parse(raw []byte) (Event, error) {
	if e, ok := checked.get(raw); ok {
		return e, nil
	}
	e, err := parse(raw)
	if err == nil {
		checked.put(raw, e)
	}
	return e, err
}

// parse is Parse, checking in full.
func parse(raw []byte) (Event, error) {
	reg, err := registry()
	if err != nil {
		return Event{}, fmt.Errorf("load schemas: %w", err)
	}
	if e, spec, ok := quick(reg, raw); ok {
		if err := catalogueRules(attributesOf(e)); err != nil {
			return Event{}, err
		}
		if problems := checkData(e, spec); len(problems) > 0 {
			return e, invalid(e, spec, problems)
		}
		return e, nil
	}
	inst, err := schemas.Decode(raw)
	if err != nil {
		return Event{}, err
	}
	if m, ok := inst.(map[string]any); ok {
		if err := catalogueRules(attributesFrom(m)); err != nil {
			return Event{}, err
		}
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
		return e, invalid(e, spec, problems)
	}
	return e, nil
}

func invalid(e Event, spec Spec, problems []string) error {
	return fmt.Errorf("%w: event %s (%s): %s", ErrInvalid, e.ID, spec.Name, strings.Join(problems, "; "))
}

// quick decodes raw when the schemas' quick path finds the envelope and
// its data certainly valid; ok false leaves the event to the general
// validator.
func quick(reg *schemas.Registry, raw []byte) (Event, Spec, bool) {
	r := readers.Get().(*envelopeReader)
	defer readers.Put(r)
	r.e, r.err = Event{}, nil
	typ, ok := reg.Quick(raw, versionedName, r.memberFn)
	if !ok || r.err != nil {
		return Event{}, Spec{}, false
	}
	spec, ok := Lookup(typ)
	return r.e, spec, ok
}

// readers are envelope readers to reuse: one made for every event read
// would cost an allocation (it is bigger than an event) and another for
// its method value.
var readers = sync.Pool{New: func() any {
	r := &envelopeReader{fields: envelopeFields()}
	r.memberFn = r.member
	return r
}}

// versionedName is the name of a type's data schema ("s136.detained.v1").
func versionedName(typ string) (string, bool) {
	v, ok := versionedOf[typ]
	return v, ok
}

// attributes are the envelope attributes the catalogue's rules read.
type attributes struct {
	id, typ, source, toAgency string
	dataSchema                any // nil when absent
	// dataSchemaText is dataSchema when it is a string (known present):
	// an event's attributes are read without boxing it.
	dataSchemaText string
	textual        bool
}

// attributesFrom reads them from a decoded event of any shape.
func attributesFrom(m map[string]any) attributes {
	a := attributes{dataSchema: m["dataschema"]}
	a.id, _ = m["id"].(string)
	a.typ, _ = m["type"].(string)
	a.source, _ = m["source"].(string)
	a.toAgency, _ = m["toagency"].(string)
	return a
}

// attributesOf reads them from an event whose envelope is valid (every
// attribute a string, dataschema required).
func attributesOf(e Event) attributes {
	return attributes{id: e.ID, typ: e.Type, source: string(e.Source), toAgency: string(e.ToAgency), dataSchemaText: e.DataSchema, textual: true}
}

// catalogueRules checks, in words, the rules the envelope schema states per
// type: the type is in the catalogue, its source may publish it, and it is
// addressed to another agency exactly when its type is addressed.
func catalogueRules(a attributes) error {
	if a.typ == "" {
		return nil // the envelope schema says what is wrong
	}
	spec, ok := Lookup(a.typ)
	if !ok {
		return fmt.Errorf("%w: event %s: type %q is not in the catalogue", ErrUnknownType, a.id, a.typ)
	}
	if a.source != "" && !spec.MayPublish(Agency(a.source)) {
		return fmt.Errorf("%w: event %s: %s may not publish %s (only %v)", ErrNotAuthor, a.id, a.source, spec.Name, spec.Publishers)
	}
	var problems []string
	if want := dataSchemaOf[a.typ]; a.textual && a.dataSchemaText != want {
		problems = append(problems, fmt.Sprintf("/dataschema: is %q, want %q", a.dataSchemaText, want))
	} else if !a.textual && a.dataSchema != nil && a.dataSchema != want {
		problems = append(problems, fmt.Sprintf("/dataschema: is %q, want %q", a.dataSchema, want))
	}
	if spec.Addressed && a.toAgency == "" {
		problems = append(problems, "/toagency: required: "+spec.Name+" is addressed to an agency")
	}
	if !spec.Addressed && a.toAgency != "" {
		problems = append(problems, "/toagency: "+spec.Name+" is not addressed to an agency")
	}
	if a.toAgency != "" && a.toAgency == a.source {
		problems = append(problems, "/toagency: an agency cannot hand off to itself")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: event %s (%s): %s", ErrInvalid, a.id, spec.Name, strings.Join(problems, "; "))
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
//
// The data is valid JSON by then (both validators establish it first), so
// decodeData may read it; what it cannot, encoding/json reads.
func checkData(e Event, spec Spec) []string {
	v := spec.Data()
	if !decodeData(e.Data, v) {
		v = spec.Data()
		if err := unmarshalData(e.Data, v); err != nil {
			return []string{"/data: cannot be read as " + spec.Name + ": " + err.Error()}
		}
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
