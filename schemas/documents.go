package schemas

import (
	"bytes"
	"embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Documents are the contract's files that are not events: read once by a
// service at start (the directory of places), validated with the same
// library and the same words as every event.
//
//go:embed places.json
var documents embed.FS

// PlacesURL is the $id of the directory of places' schema.
const PlacesURL = Base + "places.json"

var (
	docOnce    sync.Once
	docSchemas map[string]*jsonschema.Schema
	docErr     error
)

func compileDocuments() {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	docSchemas = map[string]*jsonschema.Schema{}
	for _, name := range []string{"places.json"} {
		raw, err := documents.ReadFile(name)
		if err != nil {
			docErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			docErr = fmt.Errorf("schema %s: %w", name, err)
			return
		}
		if err := c.AddResource(Base+name, doc); err != nil {
			docErr = fmt.Errorf("schema %s: %w", name, err)
			return
		}
		s, err := c.Compile(Base + name)
		if err != nil {
			docErr = fmt.Errorf("compile %s: %w", name, err)
			return
		}
		docSchemas[name] = s
	}
}

// ValidateDocument checks raw against the named document schema (for
// example "places.json"): strict JSON (valid UTF-8, no repeated key), then
// the schema. A failure is an *Error naming each problem by its JSON pointer.
func ValidateDocument(name string, raw []byte) error {
	docOnce.Do(compileDocuments)
	if docErr != nil {
		return docErr
	}
	s, ok := docSchemas[name]
	if !ok {
		return fmt.Errorf("no document schema %q", name)
	}
	if err := checkUTF8(raw); err != nil {
		return asDocument(err, name)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return &Error{Schema: Base + name, Problems: []string{"/: not valid JSON: " + err.Error()}}
	}
	if err := checkStrict(raw); err != nil {
		return asDocument(err, name)
	}
	return validate(s, Base+name, inst, "")
}

// asDocument names the document's schema in an error found by the checks
// every event also passes.
func asDocument(err error, name string) error {
	if e, ok := err.(*Error); ok {
		return &Error{Schema: Base + name, Problems: e.Problems}
	}
	return err
}
