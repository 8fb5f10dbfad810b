package events_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crisisbus/crisisbus/events"
)

// FuzzParse feeds arbitrary bytes to the contract's door (publish, import,
// consume, replay and `schema validate` all go through Parse). Whatever the
// input: no panic; a refusal is one of the contract's errors; and an event
// accepted is one every Go service can read, whose subject can be derived,
// and which passes again once encoded; and the contract's check reads its data
// as encoding/json does. The seed corpus is every example in
// schemas/testdata and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"../schemas/testdata/valid", "../schemas/testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, p := range files {
			raw, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := events.Parse(raw)
		if err != nil {
			if !errors.Is(err, events.ErrInvalid) && !errors.Is(err, events.ErrNotAuthor) && !errors.Is(err, events.ErrUnknownType) {
				t.Fatalf("refused with %v, none of the contract's errors", err)
			}
			return
		}
		decoded, err := e.Decode()
		if err != nil {
			t.Fatalf("accepted but Go cannot read its data: %v", err)
		}
		spec, _ := events.Lookup(e.Type)
		if got := spec.Data(); events.DecodeData(e.Data, got) && !reflect.DeepEqual(got, decoded) {
			t.Fatalf("the contract's check read its data as %#v; encoding/json reads %#v", got, decoded)
		}
		if _, err := events.Subject(e); err != nil {
			t.Fatalf("accepted but has no subject: %v", err)
		}
		again, err := events.Encode(e)
		if err != nil {
			t.Fatalf("accepted, then refused once encoded again: %v\n%s", err, again)
		}
		var x, y any
		if json.Unmarshal(raw, &x) != nil || json.Unmarshal(again, &y) != nil {
			t.Fatal("accepted event does not decode as JSON")
		}
	})
}
