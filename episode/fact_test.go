package episode_test

import (
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// fact is one valid event of an episode, recorded at a fixed time unless an
// option says otherwise.
func fact(t testing.TB, a events.Agency, ep string, data any, opts ...events.Option) events.Event {
	t.Helper()
	e, err := events.New(a, ep, data, append([]events.Option{events.At(time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Validate(e); err != nil {
		t.Fatal(err)
	}
	return e
}
