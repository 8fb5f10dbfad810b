package episode

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Who sees each field of the view is decided: every field is on the list
// every pathway agency sees, or is clinical (health agencies only). A field
// added to View for a new fact is hidden from every agency until it is put
// on one of them (access.go), so this fails until someone decides.
func TestEveryFieldOfTheViewIsSharedOrClinical(t *testing.T) {
	vt := reflect.TypeFor[View]()
	for i := range vt.NumField() {
		name, _, _ := strings.Cut(vt.Field(i).Tag.Get("json"), ",")
		if !slices.Contains(shared, name) && !slices.Contains(ClinicalFields, name) {
			t.Errorf("View field %s (%q) is on no allowlist: add it to shared or ClinicalFields in episode/access.go", vt.Field(i).Name, name)
		}
	}
}
