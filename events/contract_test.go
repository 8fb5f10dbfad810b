package events_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crisisbus/crisisbus/events"
)

// The envelope schema integrators read is the one generated from the
// catalogue: who may publish each type, its data schema, its addressing.
func TestEnvelopeSchemaIsUpToDate(t *testing.T) {
	want, err := events.EnvelopeSchema()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile("../schemas/cloudevent.json")
	if !bytes.Equal(got, want) {
		t.Fatal("schemas/cloudevent.json is stale: go run ./cmd/crisisbus schema envelope > schemas/cloudevent.json")
	}
}

// The agencies an event may be addressed to are the pathway's agencies, in
// the shared definitions too.
func TestCommonAgencyListIsTheAgencies(t *testing.T) {
	raw, err := os.ReadFile("../schemas/v1/common.json")
	if err != nil {
		t.Fatal(err)
	}
	var common struct {
		Defs struct {
			Agency struct {
				Enum []events.Agency `json:"enum"`
			} `json:"agency"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &common); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(common.Defs.Agency.Enum, events.Agencies) {
		t.Fatalf("schemas/v1/common.json lists agencies %v, crisisbus has %v", common.Defs.Agency.Enum, events.Agencies)
	}
}

// outsideJSONSchema are the invalid examples a JSON Schema cannot refuse,
// as the README says: the NHS number's check digit, and JSON that a
// standard parser reads one way and another parser another (a key twice,
// bytes that are not UTF-8, a lone surrogate), which crisisbus refuses
// before any schema is applied.
var outsideJSONSchema = []string{
	"nhs-number-bad-check-digit.json",
	"duplicate-key-escaped.json", "duplicate-key-in-data.json",
	"invalid-utf8.json", "lone-surrogate.json",
}

// An integrator's standard JSON Schema 2020-12 validator, given only the
// published files (no crisisbus code, "format" only an annotation as the
// standard's default), accepts every valid example and refuses every
// invalid one but those outside JSON Schema.
func TestAStandardValidatorWithThePublishedSchemasChecksTheWholeContract(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	files, _ := filepath.Glob("../schemas/v1/*.json")
	files = append(files, "../schemas/cloudevent.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rel, _ := filepath.Rel("../schemas", f)
		if err := c.AddResource("https://crisisbus.local/schemas/"+filepath.ToSlash(rel), doc); err != nil {
			t.Fatal(err)
		}
	}
	envelope, err := c.Compile("https://crisisbus.local/schemas/cloudevent.json")
	if err != nil {
		t.Fatal(err)
	}
	check := func(f string) error {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return err
		}
		return envelope.Validate(inst)
	}
	valid, _ := filepath.Glob("../schemas/testdata/valid/*.json")
	for _, f := range valid {
		if err := check(f); err != nil {
			t.Errorf("%s: refused by a standard validator: %v", filepath.Base(f), err)
		}
	}
	invalid, _ := filepath.Glob("../schemas/testdata/invalid/*-*.json")
	if len(invalid) < 15 {
		t.Fatalf("only %d invalid examples", len(invalid))
	}
	for _, f := range invalid {
		name := filepath.Base(f)
		err := check(f)
		switch outside := slices.Contains(outsideJSONSchema, name); {
		case !outside && err == nil:
			t.Errorf("%s: accepted by a standard validator with the published schemas", name)
		case outside && err != nil:
			t.Errorf("%s: refused by a standard validator (%v), yet listed as outside JSON Schema", name, strings.SplitN(err.Error(), "\n", 2)[0])
		}
	}
}
