package schemas

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
)

// AudienceKeyword marks a data field of a type's schema with who may read
// it. It is the one place a field's audience is stated: the police service
// refuses to record such a field, the record keeps it in the clinical
// section police never see, and the tests derive both from it.
const AudienceKeyword = "x-crisisbus-audience"

// Health is the audience of the clinical record: the health and care
// agencies, never police.
const Health = "health"

// Audiences returns, for each versioned type with annotated data fields
// ("triage.advice_given.v1"), each such field's audience ("healthHistory":
// "health"), read once from the embedded schemas.
func Audiences() (map[string]map[string]string, error) { return audiences() }

var audiences = sync.OnceValues(func() (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	err := fs.WalkDir(FS, "v1", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") || path.Base(p) == "common.json" {
			return err
		}
		raw, err := fs.ReadFile(FS, p)
		if err != nil {
			return err
		}
		var schema struct {
			Properties map[string]map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(raw, &schema); err != nil {
			return fmt.Errorf("schema %s: %w", p, err)
		}
		version, file := path.Split(p)
		versioned := strings.TrimSuffix(file, ".json") + "." + strings.TrimSuffix(version, "/")
		for field, prop := range schema.Properties {
			a, ok := prop[AudienceKeyword]
			if !ok {
				continue
			}
			var audience string
			if err := json.Unmarshal(a, &audience); err != nil || audience != Health {
				return fmt.Errorf("schema %s: %s has %s %s; the contract knows only %q", p, field, AudienceKeyword, a, Health)
			}
			if out[versioned] == nil {
				out[versioned] = map[string]string{}
			}
			out[versioned][field] = audience
		}
		return nil
	})
	return out, err
})
