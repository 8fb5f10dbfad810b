package console

import (
	"testing"
	"time"
)

// A clock is green with time to spare, yellow from its warning time, red
// once overdue: at the edges as the person reading it would expect.
func TestAClockTagTurnsYellowAtItsWarningTimeAndRedWhenOverdue(t *testing.T) {
	due := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		before time.Duration
		want   string
	}{
		{24 * time.Hour, "tag--green"},
		{2*time.Hour + time.Second, "tag--green"},
		{2 * time.Hour, "tag--yellow"},
		{time.Second, "tag--yellow"},
		{0, "tag--yellow"},
		{-time.Second, "tag--red"},
	} {
		if got := (clockArgs{Now: due.Add(-c.before), Due: due, Warn: s136Warning}).Tag(); got != c.want {
			t.Errorf("%v before an s136 period ends the clock is %s, want %s", c.before, got, c.want)
		}
	}
}
