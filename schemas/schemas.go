// Package schemas holds the crisisbus contract in language-neutral form: the
// CloudEvents envelope schema, one JSON Schema (2020-12) per event type under
// v1/, and the AsyncAPI 3.0 document that maps them onto NATS subjects.
// Integrators of other agencies read these files; the Go side embeds them and
// validates every event at publish and at consume.
package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed cloudevent.json v1/*.json asyncapi.yaml
var FS embed.FS

// Base is the URL prefix of every schema's $id.
const Base = "https://crisisbus.local/schemas/"

// EnvelopeURL is the $id of the envelope schema.
const EnvelopeURL = Base + "cloudevent.json"

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("invalid event")

// Error is a validation failure: which schema, and each problem with the JSON
// pointer of the offending value (for example "/data/locationType").
type Error struct {
	Schema   string
	Problems []string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", path.Base(e.Schema), strings.Join(e.Problems, "; "))
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Registry holds every compiled schema. It is safe for concurrent use.
type Registry struct {
	envelope *jsonschema.Schema
	data     map[string]*jsonschema.Schema // by type name, e.g. "s136.detained.v1"
	// The same schemas compiled for the quick path (quick.go).
	quickEnv  *quickNode
	quickData map[string]*quickNode
	quickGaps []string
}

// DataSchemaURL is the dataschema URL of a versioned event name such as "s136.detained", "v1".
func DataSchemaURL(name, version string) string {
	return Base + version + "/" + name + ".json"
}

// Load compiles the embedded envelope and every v1 data schema.
func Load() (*Registry, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "date-time", Validate: validateDateTime})
	var names []string
	docs := map[string]any{}
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("schema %s: %w", p, err)
		}
		if m, ok := doc.(map[string]any); ok && p == "cloudevent.json" {
			// The envelope's per-type rules (publishers, addressing, the data
			// schema of each type) are for other validators: crisisbus checks
			// them from its catalogue in words, and each event's data with its
			// own type's schema, rather than test every type's condition
			// (which costs a validation three times over).
			delete(m, "allOf")
		}
		docs[Base+p] = doc
		if err := c.AddResource(Base+p, doc); err != nil {
			return fmt.Errorf("schema %s: %w", p, err)
		}
		if strings.HasPrefix(p, "v") && path.Base(p) != "common.json" {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r := &Registry{data: map[string]*jsonschema.Schema{}}
	if r.envelope, err = c.Compile(EnvelopeURL); err != nil {
		return nil, fmt.Errorf("compile envelope schema: %w", err)
	}
	for _, p := range names {
		s, err := c.Compile(Base + p)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", p, err)
		}
		version, file := path.Split(p)
		r.data[strings.TrimSuffix(file, ".json")+"."+strings.TrimSuffix(version, "/")] = s
	}
	qc := &quickCompiler{docs: docs, done: map[string]*quickNode{}, formats: map[string]*jsonschema.Schema{}, patterns: map[string]*patternDFA{}, c: c}
	r.quickEnv = qc.compile(EnvelopeURL)
	r.quickData = map[string]*quickNode{}
	for _, p := range names {
		version, file := path.Split(p)
		r.quickData[strings.TrimSuffix(file, ".json")+"."+strings.TrimSuffix(version, "/")] = qc.compile(Base + p)
	}
	r.quickGaps = qc.gaps
	return r, nil
}

// Types lists the versioned names ("s136.detained.v1") that have a schema, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.data))
	for k := range r.data {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Has reports whether a versioned name has a data schema.
func (r *Registry) Has(versioned string) bool { _, ok := r.data[versioned]; return ok }

// Decode parses JSON into the form the validators take (numbers kept
// exact). It refuses JSON that readers could read differently: invalid
// UTF-8, a key twice in one object, a lone surrogate (see checkStrict).
func Decode(raw []byte) (any, error) {
	if err := checkUTF8(raw); err != nil {
		return nil, err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &Error{Schema: EnvelopeURL, Problems: []string{"not valid JSON: " + err.Error()}}
	}
	if err := checkStrict(raw); err != nil {
		return nil, err
	}
	return inst, nil
}

// ValidateEnvelope checks a whole event's JSON against the envelope schema.
func (r *Registry) ValidateEnvelope(raw []byte) error {
	inst, err := Decode(raw)
	if err != nil {
		return err
	}
	return r.ValidateEnvelopeValue(inst)
}

// ValidateEnvelopeValue checks a decoded event (see Decode).
func (r *Registry) ValidateEnvelopeValue(inst any) error {
	return validate(r.envelope, EnvelopeURL, inst, "")
}

// ValidateData checks the data of an event of the versioned name ("s136.detained.v1").
func (r *Registry) ValidateData(versioned string, data []byte) error {
	inst, err := Decode(data)
	if err != nil {
		return err
	}
	return r.ValidateDataValue(versioned, inst)
}

// ValidateDataValue checks decoded data (see Decode) of the versioned name.
func (r *Registry) ValidateDataValue(versioned string, inst any) error {
	s, ok := r.data[versioned]
	if !ok {
		return fmt.Errorf("%w: no schema for event type %q", ErrInvalid, versioned)
	}
	return validate(s, s.Location, inst, "/data")
}

var printer = message.NewPrinter(language.English)

func validate(s *jsonschema.Schema, url string, inst any, prefix string) error {
	err := s.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	e := &Error{Schema: url}
	var walk func(v *jsonschema.ValidationError)
	walk = func(v *jsonschema.ValidationError) {
		if len(v.Causes) == 0 {
			at := prefix + "/" + strings.Join(v.InstanceLocation, "/")
			if len(v.InstanceLocation) == 0 {
				at = prefix
				if at == "" {
					at = "/"
				}
			}
			e.Problems = append(e.Problems, at+": "+problem(v.ErrorKind))
			return
		}
		for _, c := range v.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.Sort(e.Problems)
	e.Problems = slices.Compact(e.Problems)
	return e
}

// problem says what is wrong without repeating the offending value: reasons
// go to logs, dead letters and every agency's view of an episode, and a
// value that fails a pattern or a format may be personal (a phone number, a
// name typed in the wrong field).
func problem(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Format:
		msg := "is not a valid " + k.Want
		if k.Err != nil {
			msg += ": " + k.Err.Error()
		}
		return msg
	case *kind.Pattern:
		return "does not match the pattern " + k.Want
	}
	return k.LocalizedString(printer)
}

// Description returns the description of a versioned type's schema.
func (r *Registry) Description(versioned string) string {
	if s, ok := r.data[versioned]; ok && s.Description != "" {
		return s.Description
	}
	return ""
}
