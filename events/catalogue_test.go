package events_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/schemas"
)

// Every type in the catalogue has a schema, a Go type that matches it field
// for field, an AsyncAPI message and a valid example; and nothing else does.
func TestEveryCatalogueTypeHasSchemaGoTypeAsyncAPIMessageAndExample(t *testing.T) {
	reg, err := events.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	var inCatalogue []string
	tokens := map[string]bool{}
	asyncapi, err := os.ReadFile("../schemas/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range events.Catalogue() {
		inCatalogue = append(inCatalogue, s.Versioned())
		if tokens[s.Token()] {
			t.Errorf("two types share the subject token %s", s.Token())
		}
		tokens[s.Token()] = true
		if !reg.Has(s.Versioned()) {
			t.Errorf("%s has no schema in schemas/v1", s.Type())
			continue
		}
		if !strings.Contains(string(asyncapi), "name: \""+s.Type()+"\"") {
			t.Errorf("%s has no AsyncAPI message", s.Type())
		}
		if _, err := os.Stat(filepath.Join("../schemas/testdata/valid", s.Name+".json")); err != nil {
			t.Errorf("%s has no valid example: %v", s.Type(), err)
		}
		t.Run(s.Name, func(t *testing.T) { checkGoTypeMatchesSchema(t, s) })
	}
	slices.Sort(inCatalogue)
	if got := reg.Types(); !slices.Equal(got, inCatalogue) {
		t.Errorf("schemas %v\ndiffer from catalogue %v", got, inCatalogue)
	}
}

// checkGoTypeMatchesSchema compares the Go struct's JSON fields with the
// schema's properties: same names, required exactly where not omitempty.
func checkGoTypeMatchesSchema(t *testing.T, s events.Spec) {
	raw, err := schemas.FS.ReadFile(s.Version + "/" + s.Name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var sch struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(raw, &sch); err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(s.Data()).Elem()
	fields := map[string]bool{} // json name -> omitempty
	for i := range typ.NumField() {
		name, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields[name] = strings.Contains(opts, "omitempty")
	}
	for p := range sch.Properties {
		omit, ok := fields[p]
		if !ok {
			t.Errorf("schema property %q has no field in %s", p, typ.Name())
			continue
		}
		if required := slices.Contains(sch.Required, p); required == omit {
			t.Errorf("%s.%s: required in schema = %v but omitempty = %v", typ.Name(), p, required, omit)
		}
	}
	for f := range fields {
		if _, ok := sch.Properties[f]; !ok {
			t.Errorf("%s field %q is not in the schema", typ.Name(), f)
		}
	}
}

func TestAsyncAPIDocumentIsUpToDate(t *testing.T) {
	want, err := system.AsyncAPI()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile("../schemas/asyncapi.yaml")
	if string(got) != string(want) {
		t.Fatal("schemas/asyncapi.yaml is stale: go run ./cmd/crisisbus schema asyncapi > schemas/asyncapi.yaml")
	}
}

func TestValidExamplesPassTheContract(t *testing.T) {
	files, _ := filepath.Glob("../schemas/testdata/valid/*.json")
	if len(files) < len(events.Catalogue()) {
		t.Fatalf("%d valid examples for %d types", len(files), len(events.Catalogue()))
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		e, err := events.Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		// It survives a round trip through the Go type unchanged.
		v, err := e.Decode()
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		again, _ := json.Marshal(v)
		if !jsonEqual(t, again, e.Data) {
			t.Errorf("%s: data changed through its Go type:\n%s\n%s", filepath.Base(f), e.Data, again)
		}
	}
}

func TestInvalidExamplesAreRejectedNamingTheProblem(t *testing.T) {
	var expected map[string]string
	raw, err := os.ReadFile("../schemas/testdata/invalid/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../schemas/testdata/invalid/*-*.json")
	if len(files) != len(expected) {
		t.Fatalf("%d invalid examples but %d expectations", len(files), len(expected))
	}
	for _, f := range files {
		name := filepath.Base(f)
		raw, _ := os.ReadFile(f)
		_, err := events.Parse(raw)
		switch {
		case err == nil:
			t.Errorf("%s: accepted", name)
		case !errors.Is(err, events.ErrInvalid) && !errors.Is(err, events.ErrNotAuthor) && !errors.Is(err, events.ErrUnknownType):
			t.Errorf("%s: error %v is none of the contract's sentinels", name, err)
		case !strings.Contains(err.Error(), expected[name]):
			t.Errorf("%s: error %q does not name %q", name, err, expected[name])
		}
	}
}

func TestNHSNumberCheckDigit(t *testing.T) {
	for _, c := range []struct {
		n    string
		want bool
	}{
		{"9434765919", true},  // the NHS's published example
		{"9434765910", false}, // wrong check digit
		{"4010232137", true},  // check digit 7
		{"0000000000", true},  // remainder 0 gives check digit 0
		{"123456789", false},  // nine digits
		{"94347659l9", false}, // a letter
		{"1000000010", false}, // check digit would be 10: never issued
	} {
		if got := events.ValidNHSNumber(c.n); got != c.want {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", c.n, got, c.want)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
