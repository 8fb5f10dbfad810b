package reports

import (
	"fmt"
	"time"

	"github.com/crisisbus/crisisbus/places"
)

// London is the time zone the partnership's months are kept in (the
// directory of places' own, embedded with time/tzdata).
var London = places.London

// Month is a calendar month in Europe/London time, counted from year 0 (so
// months compare and subtract as integers).
type Month int

// MonthOf is the London month an instant falls in: 23:30 UTC on 31 May 2015
// is 00:30 BST on 1 June, so June.
func MonthOf(t time.Time) Month {
	l := t.In(London)
	return Month(l.Year()*12 + int(l.Month()) - 1)
}

// MonthFor returns the month of year y.
func MonthFor(y int, m time.Month) Month { return Month(y*12 + int(m) - 1) }

// ParseMonth reads YYYY-MM.
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return 0, fmt.Errorf("month %q: want YYYY-MM", s)
	}
	return MonthFor(t.Year(), t.Month()), nil
}

// Year and calendar month.
func (m Month) Year() int            { return int(m) / 12 }
func (m Month) Calendar() time.Month { return time.Month(int(m)%12 + 1) }

// String is YYYY-MM, the column heading of every report.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year(), int(m.Calendar())) }

// Start is the first instant of the month in London.
func (m Month) Start() time.Time { return time.Date(m.Year(), m.Calendar(), 1, 0, 0, 0, 0, London) }

// End is the first instant of the next month in London.
func (m Month) End() time.Time { return (m + 1).Start() }

// Range is the months from..to inclusive.
type Range struct {
	From, To Month
	// AsOf is when the report is run (zero: now): a detention not recorded
	// as ended counts as a 24h breach when its period ran out before it.
	AsOf time.Time
}

// ParseRange reads --from and --to, both YYYY-MM, from not after to.
func ParseRange(from, to string) (Range, error) {
	f, err := ParseMonth(from)
	if err != nil {
		return Range{}, fmt.Errorf("--from: %w", err)
	}
	t, err := ParseMonth(to)
	if err != nil {
		return Range{}, fmt.Errorf("--to: %w", err)
	}
	if t < f {
		return Range{}, fmt.Errorf("--to %s is before --from %s", t, f)
	}
	return Range{From: f, To: t}, nil
}

// Months lists the range's months in order.
func (r Range) Months() []Month {
	out := make([]Month, 0, int(r.To-r.From)+1)
	for m := r.From; m <= r.To; m++ {
		out = append(out, m)
	}
	return out
}

// Len is the number of months in the range.
func (r Range) Len() int { return int(r.To-r.From) + 1 }

// Contains reports whether m is in the range.
func (r Range) Contains(m Month) bool { return m >= r.From && m <= r.To }
