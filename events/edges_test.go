package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
)

// Each check names the field and the limit, lets every id crisisbus makes
// through, and refuses one character more than the limit.
func TestTheEdgeChecksNameTheFieldAndTheLimit(t *testing.T) {
	uuid := "0b9f1c1e-4f5a-4c59-9a51-0d4c2f7d8e11"
	for _, c := range []struct {
		name string
		err  error
		says string // "" when it must pass
	}{
		{"a UUID", events.CheckID("episode", uuid), ""},
		{"64 characters", events.CheckID("episode", strings.Repeat("a", 64)), ""},
		{"65 characters", events.CheckID("episode", strings.Repeat("a", 65)), "episode is too long: 65 characters, at most 64"},
		{"5,000 characters", events.CheckID("handoffId", strings.Repeat("a", 5000)), "handoffId is too long: 5000 characters, at most 64"},
		{"5,000 multi-byte characters", events.CheckID("episode", strings.Repeat("é", 5000)), "episode is too long: 5000 characters, at most 64"},
		{"a wildcard", events.CheckID("episode", "crisis.>"), "episode must be an id of letters, digits"},
		{"a space", events.CheckID("episode", "a b"), "episode must be an id"},
		{"empty", events.CheckID("episode", ""), "episode is required"},
		{"an agency", events.CheckToken("agency", "amhp"), ""},
		{"a long agency", events.CheckToken("agency", strings.Repeat("p", 5000)), "agency is too long: 5000 characters, at most 64"},
		{"a dotted token", events.CheckToken("command", "s136.detain"), "command must be one subject token"},
		{"a subject", events.CheckSubject("subject", "crisisbus.police.s136.detain"), ""},
		{"a long subject", events.CheckSubject("subject", "crisis."+strings.Repeat("x", 5000)), "subject is too long: 5007 characters, at most 512"},
		{"an empty token", events.CheckSubject("subject", "crisis..x"), "subject must be a subject"},
		{"a line break", events.CheckSubject("subject", "crisis.x\r\nPUB"), "subject must be a subject"},
		{"a key", events.CheckKey("name_and_date_of_birth.reed.daniel.1992-03-14"), ""},
		{"a long key", events.CheckKey(strings.Repeat("k", 5000)), "key is too long: 5000 characters, at most 256"},
	} {
		switch {
		case c.says == "" && c.err != nil:
			t.Errorf("%s: refused: %v", c.name, c.err)
		case c.says != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.says) || !errors.Is(c.err, events.ErrBadToken)):
			t.Errorf("%s: %v, want a refusal saying %q", c.name, c.err, c.says)
		}
	}
}
