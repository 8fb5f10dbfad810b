package episode

import (
	"encoding/json"

	"github.com/crisisbus/crisisbus/events"
)

// ForAgency is ForAgencyJSON decoded into generic values, for tests that
// look a field up by name.
func ForAgency(v View, a events.Agency) (map[string]any, []string, error) {
	raw, fields, err := ForAgencyJSON(v, a)
	if err != nil {
		return nil, nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, nil, err
	}
	return out, fields, nil
}
