package reports

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// A rate's cell and its JSON value never disagree: 45 of 80 is 56.25%,
// shown and given as 56.2 (halves to even, as the partnership's table
// rounds 9 of 80 to 11.2%), and so for every count up to 400.
func TestARateCellAndItsValueAgree(t *testing.T) {
	m := MonthFor(2016, time.January)
	r := Range{From: m, To: m}
	row := rateRow("Admitted", r, func(Month) int { return 45 }, func(Month) int { return 80 })
	if row.Cells[0] != "56.2%" || *row.Values[0] != 56.2 {
		t.Fatalf("45 of 80: cell %q value %v, want 56.2%% and 56.2", row.Cells[0], *row.Values[0])
	}
	for b := 1; b <= 400; b++ {
		for a := 0; a <= b; a++ {
			row := rateRow("x", r, func(Month) int { return a }, func(Month) int { return b })
			shown, err := strconv.ParseFloat(strings.TrimSuffix(row.Cells[0], "%"), 64)
			if err != nil || shown != *row.Values[0] {
				t.Fatalf("%d of %d: cell %q, value %v", a, b, row.Cells[0], *row.Values[0])
			}
			if exact := 100 * float64(a) / float64(b); shown-exact > 0.05+1e-9 || exact-shown > 0.05+1e-9 {
				t.Fatalf("%d of %d: shown %v, exactly %v", a, b, shown, exact)
			}
		}
	}
}
