package episode_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// Each field's audience is stated once, in the schema (schemas.AudienceKeyword).
// Every field marked for health agencies only lands in the record's
// clinical section, which health agencies see and the others (police, the
// safe haven) never do, on any
// view built from the fold.
func TestEveryHealthOnlyFieldOfTheContractReachesHealthAgenciesAndNeverPolice(t *testing.T) {
	marked := 0
	for _, spec := range events.Catalogue() {
		fields, err := spec.HealthFields()
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range fields {
			marked++
			checkHealthOnly(t, spec.Name+".json", field)
		}
	}
	if marked < 5 {
		t.Fatalf("%d fields marked for health agencies only; the contract has at least 5 (health history, street triage, ambulance, assessment and follow-up notes)", marked)
	}
}

func checkHealthOnly(t *testing.T, file, field string) {
	t.Helper()
	raw, err := os.ReadFile("../schemas/testdata/valid/" + file)
	if err != nil {
		t.Fatalf("%s: no valid example to check %s with: %v", file, field, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	marker := "clinical text of " + file + " " + field
	doc["data"].(map[string]any)[field] = marker
	// Recorded by an agency that records clinical text: from one that
	// never does, the record does not apply it (TestAFactAnAgencyCould
	// NotRecordThroughItsCommandsIsNotApplied).
	if spec, ok := events.Lookup(doc["type"].(string)); ok && !episode.SeesClinical(events.Agency(doc["source"].(string))) {
		for _, a := range spec.Publishers {
			if episode.SeesClinical(a) {
				doc["source"] = string(a)
				break
			}
		}
	}
	raw, _ = json.Marshal(doc)
	e, err := events.Parse(raw)
	if err != nil {
		t.Fatalf("%s with %s set: %v", file, field, err)
	}
	v := episode.New(e.Subject)
	if _, err := v.Apply(e); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	found := 0
	for _, n := range v.Clinical {
		if n.Text == marker {
			found++
		}
	}
	if found != 1 {
		t.Errorf("%s %s is for health agencies only, but the record's clinical section holds it %d times", file, field, found)
	}
	for _, a := range events.Agencies {
		view, _, err := episode.ForAgency(v, a)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(view)
		sees := strings.Contains(string(b), marker)
		if !a.Health() && sees {
			t.Errorf("%s %s reaches the %s view (not a health agency)", file, field, a)
		}
		if a.Health() && !sees {
			t.Errorf("%s %s does not reach the %s view", file, field, a)
		}
	}
}
