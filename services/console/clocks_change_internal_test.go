package console

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A time typed in the hour London's clocks repeat (the last Sunday of
// October, 01:00-01:59, first BST then GMT) is never guessed: the field
// asks which, and the one chosen, or typed after the time, is recorded.
// One in the hour they skip (the last Sunday of March) is refused, saying
// what happened. An s136 arrival at the first 01:30 is 00:30 UTC, not an
// hour later.
func TestATimeInTheHourTheClocksRepeatIsAskedForAndOneTheySkipIsRefused(t *testing.T) {
	changeNight := time.Date(2026, 10, 25, 3, 0, 0, 0, time.UTC)
	form := func(now time.Time, day, month, year, clock, zone string) input {
		f := url.Values{"arrivedAt-day": {day}, "arrivedAt-month": {month}, "arrivedAt-year": {year}, "arrivedAt-time": {clock}}
		if zone != "" {
			f.Set("arrivedAt-zone", zone)
		}
		return input{form: f, now: now}
	}
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	for _, c := range []struct {
		what                          string
		day, month, year, clock, zone string
		now                           time.Time
		want                          time.Time
		refused                       []string // the words of the refusal, when it is one
	}{
		{what: "the repeated 01:30, no zone", day: "25", month: "10", year: "2026", clock: "01:30",
			refused: []string{"01:30 on Sunday 25 October happened twice: the clocks went back from 02:00 BST to 01:00 GMT. Choose which 01:30 you mean"}},
		{what: "the repeated 01:30 alone on the day", clock: "01:30", now: changeNight,
			refused: []string{"happened twice"}},
		{what: "the first 01:30, chosen", day: "25", month: "10", year: "2026", clock: "01:30", zone: "BST", want: utc(10, 25, 0, 30)},
		{what: "the second 01:30, chosen", day: "25", month: "10", year: "2026", clock: "01:30", zone: "GMT", want: utc(10, 25, 1, 30)},
		{what: "the first 01:30, typed", day: "25", month: "10", year: "2026", clock: "01:30 bst", want: utc(10, 25, 0, 30)},
		{what: "the second 01:30, typed", day: "25", month: "10", year: "2026", clock: "0130 GMT", want: utc(10, 25, 1, 30)},
		{what: "00:59 before the clocks go back", day: "25", month: "10", year: "2026", clock: "00:59", want: utc(10, 24, 23, 59)},
		{what: "02:00 after the clocks went back", day: "25", month: "10", year: "2026", clock: "02:00", want: utc(10, 25, 2, 0)},
		{what: "the skipped 01:30", day: "29", month: "3", year: "2026", clock: "01:30",
			refused: []string{"01:30 on Sunday 29 March did not happen: the clocks went forward from 01:00 to 02:00"}},
		{what: "the skipped 01:30, with a zone", day: "29", month: "3", year: "2026", clock: "01:30", zone: "GMT", refused: []string{"did not happen"}},
		{what: "00:59 before the clocks go forward", day: "29", month: "3", year: "2026", clock: "00:59", want: utc(3, 29, 0, 59)},
		{what: "02:00 after the clocks went forward", day: "29", month: "3", year: "2026", clock: "02:00", want: utc(3, 29, 1, 0)},
		{what: "a summer afternoon", day: "1", month: "7", year: "2026", clock: "14:00", want: utc(7, 1, 13, 0)},
		{what: "a summer afternoon, a zone ignored", day: "1", month: "7", year: "2026", clock: "14:00", zone: "GMT", want: utc(7, 1, 13, 0)},
		{what: "a winter night", day: "27", month: "11", year: "2026", clock: "01:30", want: utc(11, 27, 1, 30)},
	} {
		now := c.now
		if now.IsZero() {
			now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
		}
		got, err := form(now, c.day, c.month, c.year, c.clock, c.zone).when("arrivedAt")
		if c.refused != nil {
			fe, ok := err.(formError)
			if !ok || fe.field != "arrivedAt" {
				t.Errorf("%s: recorded as %s (shown back as %q), want refused on the field", c.what, got.Format(time.RFC3339), whenFrom(got, got))
				continue
			}
			for _, words := range c.refused {
				if !strings.Contains(fe.msg, words) {
					t.Errorf("%s: refused with %q, want it to say %q", c.what, fe.msg, words)
				}
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("%s: recorded as %s (%v), want %s", c.what, got.Format(time.RFC3339), err, c.want.Format(time.RFC3339))
		}
	}

	// The field asks which 01:30 only when it is the repeated one, keeping
	// what was typed and chosen.
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	field := func(f url.Values) string {
		p := page{Action: "arrive", Form: f, Now: changeNight}
		var b bytes.Buffer
		if err := pages["episode"].ExecuteTemplate(&b, "field", p.Field("arrive", "arrivedAt", "Arrived at", "datetime", "")); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	repeated := field(url.Values{"arrivedAt-day": {"25"}, "arrivedAt-month": {"10"}, "arrivedAt-year": {"2026"}, "arrivedAt-time": {"01:30"}, "arrivedAt-zone": {"GMT"}})
	for _, want := range []string{"Which 01:30?", `value="BST">`, "01:30 BST, the first: before the clocks went back",
		`value="GMT" checked>`, "01:30 GMT, the second: an hour later", `value="01:30"`, `value="25"`} {
		if !strings.Contains(repeated, want) {
			t.Errorf("the field with the repeated 01:30 has no %q:\n%s", want, repeated)
		}
	}
	for _, clock := range []string{"00:30", "02:30"} {
		if other := field(url.Values{"arrivedAt-day": {"25"}, "arrivedAt-month": {"10"}, "arrivedAt-year": {"2026"}, "arrivedAt-time": {clock}}); strings.Contains(other, "arrivedAt-zone") {
			t.Errorf("the field with %s asks which: %s", clock, other)
		}
	}

	// Shown back, the two 01:30s differ, on the day the clocks change only.
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{utc(10, 25, 0, 30), "today 01:30 BST"},
		{utc(10, 25, 1, 30), "today 01:30 GMT"},
		{utc(10, 24, 23, 30), "today 00:30 BST"},
		{utc(10, 24, 20, 0), "yesterday 21:00"},
		{utc(10, 25, 9, 0), "today 09:00 GMT"},
		{utc(3, 29, 1, 30), "Sun 29 Mar 02:30 BST"},
		{utc(11, 2, 14, 0), "Mon 2 Nov 14:00"},
	} {
		if got := whenFrom(changeNight.Add(5*time.Hour), c.at); got != c.want {
			t.Errorf("%s is shown as %q, want %q", c.at.Format(time.RFC3339), got, c.want)
		}
	}
	if got := funcs["when"].(func(time.Time) string)(utc(10, 25, 0, 30)); got != "Sun 25 Oct 01:30 BST" {
		t.Errorf("00:30 UTC on 25 October is shown as %q, want Sun 25 Oct 01:30 BST", got)
	}
}
