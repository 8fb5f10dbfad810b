package logsafe_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
)

// TestCauseSaysWhatWentWrongInWordsNeverAGoTypeName: the causes the
// services log for a handler or a write that failed are words an operator
// reads (a refusal's kind, a file or network fault, malformed JSON), never
// a Go type such as *errors.errorString, and never the error's text, which
// may quote what a person submitted.
func TestCauseSaysWhatWentWrongInWordsNeverAGoTypeName(t *testing.T) {
	personal := "NHS number 9434765919"
	_, fileErr := os.Open("/nonexistent/" + personal)
	jsonErr := json.Unmarshal([]byte(`{"nhs": "`+personal), &struct{}{})
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("handler: " + personal + " is not known"), "error"},
		{fmt.Errorf("acknowledge handoff: %w", events.Errorf(events.Unavailable, "episode %s as read does not yet hold handoff %s", personal, personal)), "cannot take it just now"},
		{events.Errorf(events.Invalid, "field %s", personal), "malformed"},
		{events.Errorf(events.Conflict, "field %s", personal), "the episode's state"},
		{fmt.Errorf("open: %w", fileErr), "no such file or directory"},
		{fmt.Errorf("decode: %w", jsonErr), "JSON"},
		{fmt.Errorf("handle %s: %w", personal, fixedErr{}), "the clocks are being rebuilt"},
		{fmt.Errorf("publish 3 facts for episode %s: fact 1 of 3: %w", personal, &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}), "insufficient resources: the store cannot take a write"},
	} {
		got := logsafe.Cause(tc.err)
		if strings.Contains(got, personal) {
			t.Errorf("Cause(%q) = %q: quotes what was submitted", tc.err, got)
		}
		if strings.ContainsAny(got, "*") || strings.Contains(got, "errors.") || strings.Contains(got, "fmt.") ||
			strings.Contains(got, "events.") || strings.Contains(got, "fs.") || strings.Contains(got, "json.") {
			t.Errorf("Cause(%q) = %q: a Go type name, not words", tc.err, got)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("Cause(%q) = %q, want it to say %q", tc.err, got, tc.want)
		}
	}
}

// fixedErr is an error of fixed words, as the clock's while it rebuilds.
type fixedErr struct{}

func (fixedErr) Error() string      { return "the clocks are being rebuilt" }
func (fixedErr) FixedWords() string { return "the clocks are being rebuilt" }
