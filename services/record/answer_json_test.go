package record_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The record sends a state or a view with the episode's document as it
// encoded it (rpc.Encoded), not scanned and compacted again by
// encoding/json: what the caller decodes is what json.Marshal's answer
// would have given, the document included (names with "<", "&" and
// quotes, an empty one, none at all).
func TestAnAnswerCarryingAViewDecodesAsItsJSON(t *testing.T) {
	view := json.RawMessage(`{"episode":"e1","person":{"givenName":"Ann \"Annie\" <O'Neil> & co"},"timeline":[{"text":"Police \u003e SPoA"}]}`)
	for _, c := range []struct {
		name   string
		answer rpc.Encoded
	}{
		{"state", record.StateResponse{Episode: "e1", Sequence: 42, Fields: []string{"person", "timeline"}, View: view}},
		{"state, empty view", record.StateResponse{Episode: "e1", Fields: []string{}, View: json.RawMessage(`{}`)}},
		{"state, no view", record.StateResponse{Episode: "e1"}},
		{"view", record.ViewResponse{Episode: "e1", Agency: events.Police, Fields: []string{"person"}, DisclosureID: "d1", View: view}},
		{"view, no view", record.ViewResponse{Episode: "e1", Agency: events.AMHP}},
	} {
		got, err := c.answer.AppendJSON([]byte("prefix:"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if string(got[:7]) != "prefix:" {
			t.Fatalf("%s: AppendJSON did not append: %s", c.name, got)
		}
		want, err := json.Marshal(c.answer)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		if err := json.Unmarshal(got[7:], &g); err != nil {
			t.Fatalf("%s: the answer is not JSON: %v\n%s", c.name, err, got[7:])
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: the answer decodes as\n%v\nwant (json.Marshal's)\n%v", c.name, g, w)
		}
	}
	// A type whose JSON does not end with the document's null member is
	// refused, not sent malformed.
	if _, err := rpc.AppendRawLast(nil, struct {
		View json.RawMessage `json:"view"`
		Seq  int             `json:"seq"`
	}{}, view); err == nil {
		t.Error("AppendRawLast wrote a document into a member that is not the last")
	}
}
