package places

import (
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // Europe/London must resolve on a machine without zoneinfo
)

// London is the time zone every opening hour is written in.
var London = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("time zone %s is embedded with time/tzdata: %v", name, err))
	}
	return loc
}

// Hours is when a place is open, in Europe/London time: always, or weekly
// spans with a rule for bank holidays.
type Hours struct {
	Always       bool   `json:"always,omitempty"`
	Weekly       []Span `json:"weekly,omitempty"`
	BankHolidays string `json:"bankHolidays,omitempty"` // as_usual, closed or as_sunday
}

// Rules for bank holidays.
const (
	AsUsual  = "as_usual"
	Closed   = "closed"
	AsSunday = "as_sunday"
)

// Span is one opening on the given days, from Opens to Closes local time
// ("HH:MM"). A span that closes at or before the time it opens ends the next
// day: 18:00–02:00 is open past midnight, 09:00–00:00 until midnight. A span
// belongs to the day it opens, for bank holidays too.
type Span struct {
	Days   []string `json:"days"`
	Opens  string   `json:"opens"`
	Closes string   `json:"closes"`
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// clock parses "HH:MM" into hours and minutes.
func clock(s string) (h, m int, err error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	return t.Hour(), t.Minute(), nil
}

// check says what is wrong with the hours, in words.
func (h Hours) check() error {
	if h.Always {
		if len(h.Weekly) > 0 {
			return fmt.Errorf("hours are either always or weekly, not both")
		}
		return nil
	}
	if len(h.Weekly) == 0 {
		return fmt.Errorf("hours give no time it is open: say always, or weekly spans")
	}
	switch h.BankHolidays {
	case AsUsual, Closed, AsSunday:
	default:
		return fmt.Errorf("bank holidays rule %q: want as_usual, closed or as_sunday", h.BankHolidays)
	}
	for _, s := range h.Weekly {
		for _, d := range s.Days {
			if _, ok := dayNames[d]; !ok {
				return fmt.Errorf("%q is not a day (mon … sun)", d)
			}
		}
		if _, _, err := clock(s.Opens); err != nil {
			return fmt.Errorf("opens: %w", err)
		}
		if _, _, err := clock(s.Closes); err != nil {
			return fmt.Errorf("closes: %w", err)
		}
	}
	return nil
}

// interval is one opening, from start to end.
type interval struct{ start, end time.Time }

// openings are the openings that start on the local day d (midnight in
// London), given the bank holidays.
func (h Hours) openings(d time.Time, holidays map[string]bool) []interval {
	if h.Always {
		return []interval{{d, d.AddDate(0, 0, 1)}}
	}
	day := d.Weekday()
	if holidays[d.Format(time.DateOnly)] {
		switch h.BankHolidays {
		case Closed:
			return nil
		case AsSunday:
			day = time.Sunday
		}
	}
	var out []interval
	for _, s := range h.Weekly {
		if !slices.ContainsFunc(s.Days, func(n string) bool { return dayNames[n] == day }) {
			continue
		}
		oh, om, _ := clock(s.Opens)
		ch, cm, _ := clock(s.Closes)
		start := time.Date(d.Year(), d.Month(), d.Day(), oh, om, 0, 0, London)
		end := time.Date(d.Year(), d.Month(), d.Day(), ch, cm, 0, 0, London)
		if !end.After(start) {
			end = time.Date(d.Year(), d.Month(), d.Day()+1, ch, cm, 0, 0, London)
		}
		out = append(out, interval{start, end})
	}
	slices.SortFunc(out, func(a, b interval) int { return a.start.Compare(b.start) })
	return out
}

// midnight is the start of the local day t falls on, plus days.
func midnight(t time.Time, days int) time.Time {
	l := t.In(London)
	return time.Date(l.Year(), l.Month(), l.Day()+days, 0, 0, 0, 0, London)
}

// OpenAt reports whether the hours are open at t, and until when (for
// always, the end of the local day: it opens again at once).
func (h Hours) OpenAt(t time.Time, holidays map[string]bool) (open bool, until time.Time) {
	for _, days := range []int{-1, 0} { // an opening of yesterday may run past midnight
		for _, o := range h.openings(midnight(t, days), holidays) {
			if !t.Before(o.start) && t.Before(o.end) {
				return true, o.end
			}
		}
	}
	return false, time.Time{}
}

// NextOpen is when the hours next open after t, looking a fortnight ahead;
// ok is false when they do not open in that time.
func (h Hours) NextOpen(t time.Time, holidays map[string]bool) (next time.Time, ok bool) {
	for days := 0; days <= 14; days++ {
		for _, o := range h.openings(midnight(t, days), holidays) {
			if o.start.After(t) {
				return o.start, true
			}
		}
	}
	return time.Time{}, false
}

// When says a time as people at a desk in Kent read it, relative to now:
// "today 18:00", "tomorrow 09:00", "Friday 18:00", or "Mon 5 Jan 18:00".
func When(t, now time.Time) string {
	l := t.In(London)
	switch days := int(midnight(l, 0).Sub(midnight(now, 0)).Hours()+12) / 24; {
	case days == 0:
		return "today " + l.Format("15:04")
	case days == 1:
		return "tomorrow " + l.Format("15:04")
	case days > 1 && days < 7:
		return l.Format("Monday 15:04")
	default:
		return l.Format("Mon 2 Jan 15:04")
	}
}
