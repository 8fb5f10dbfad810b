package events

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/crisisbus/crisisbus/schemas"
)

// HealthFields lists the data fields of the type that are for the health
// and care agencies only (annotated "x-crisisbus-audience": "health" in its
// schema, the one place a field's audience is stated), sorted.
func (s Spec) HealthFields() ([]string, error) {
	all, err := schemas.Audiences()
	if err != nil {
		return nil, err
	}
	var out []string
	for f, a := range all[s.Versioned()] {
		if a == schemas.Health {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ClinicalIn lists the health-only fields (HealthFields) that data, event
// data of the catalogue, gives a value, sorted.
func ClinicalIn(data any) ([]string, error) {
	s, err := SpecOf(data)
	if err != nil {
		return nil, err
	}
	health, err := s.HealthFields()
	if err != nil || len(health) == 0 {
		return nil, err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("%s data: %w", s.Name, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s data: %w", s.Name, err)
	}
	var out []string
	for _, f := range health {
		if v, ok := m[f]; ok && v != nil && v != "" {
			out = append(out, f)
		}
	}
	return out, nil
}
