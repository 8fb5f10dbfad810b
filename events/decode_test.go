package events_test

import (
	"reflect"
	"testing"

	"github.com/crisisbus/crisisbus/events"
)

// The contract's check reads each event's data into its Go type without
// encoding/json when it can (decode.go). On every example and every
// systematic variation the contract accepts, what it reads is exactly what
// json.Unmarshal reads; and it reads most of them (else the work is lost).
func TestDecodeDataReadsWhatJSONReads(t *testing.T) {
	accepted, read := 0, 0
	for name, raw := range variants(t) {
		e, err := events.Parse(raw)
		if err != nil {
			continue
		}
		accepted++
		spec, _ := events.Lookup(e.Type)
		want, err := e.Decode() // encoding/json
		if err != nil {
			t.Fatalf("%s: accepted, but encoding/json cannot read its data: %v", name, err)
		}
		got := spec.Data()
		if !events.DecodeData(e.Data, got) {
			continue
		}
		read++
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read\n%#v\nencoding/json reads\n%#v", name, got, want)
		}
	}
	if accepted < 100 || read < accepted*3/4 {
		t.Fatalf("of %d accepted events, %d read without encoding/json", accepted, read)
	}
	t.Logf("of %d accepted events, %d read without encoding/json", accepted, read)
}
