package events_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/schemas"
)

// withValue returns the valid s136.detained example with one value replaced.
func withValue(t testing.TB, from, to string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../schemas/testdata/valid/s136.detained.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), from) {
		t.Fatalf("example has no %s", from)
	}
	return []byte(strings.Replace(string(raw), from, to, 1))
}

// An integer is a JSON Schema integer however it is written: every form the
// schema accepts, the Go side reads; a number with a fraction is refused.
func TestAnIntegerIsReadHoweverItIsWritten(t *testing.T) {
	for _, n := range []string{"34", "34.0", "3.4e1", "3.4E+1", "340e-1", "0.34e2", "34.000"} {
		e, err := events.Parse(withValue(t, `"ageYears": 34`, `"ageYears": `+n))
		if err != nil {
			t.Errorf("ageYears %s: refused: %v", n, err)
			continue
		}
		v, err := e.Decode()
		if err != nil {
			t.Errorf("ageYears %s: passes the contract but Go cannot read it: %v", n, err)
			continue
		}
		if got := v.(*events.S136Detained).AgeYears; got != 34 {
			t.Errorf("ageYears %s read as %d, want 34", n, got)
		}
		var d events.S136Detained
		if err := e.DecodeInto(&d); err != nil || d.AgeYears != 34 {
			t.Errorf("DecodeInto ageYears %s: %d, %v", n, d.AgeYears, err)
		}
	}
	for _, n := range []string{"34.5", "3.45e1", "1e999999999", "131", "-1"} {
		_, err := events.Parse(withValue(t, `"ageYears": 34`, `"ageYears": `+n))
		if !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "/data/ageYears") {
			t.Errorf("ageYears %s: %v, want refused naming /data/ageYears", n, err)
		}
	}
}

// Every integer the schemas accept fits a Go int: each integer property has
// a minimum and a maximum, within the range every JSON reader holds exactly.
func TestEveryIntegerInTheSchemasIsBounded(t *testing.T) {
	const exact = 1<<53 - 1
	n := 0
	err := fs.WalkDir(schemas.FS, "v1", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := schemas.FS.ReadFile(p)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		var walk func(at string, v any)
		walk = func(at string, v any) {
			switch x := v.(type) {
			case map[string]any:
				if x["type"] == "integer" {
					n++
					lo, okLo := x["minimum"].(float64)
					hi, okHi := x["maximum"].(float64)
					if !okLo || !okHi || lo < -exact || hi > exact {
						t.Errorf("%s%s: an integer needs a minimum and a maximum within ±2^53 (has %v, %v)", p, at, x["minimum"], x["maximum"])
					}
				}
				for k, e := range x {
					walk(at+"/"+k, e)
				}
			case []any:
				for _, e := range x {
					walk(at, e)
				}
			}
		}
		walk("", doc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no integer found in the schemas")
	}
	if math.MaxInt < exact {
		t.Fatal("int is narrower than the schemas' integers")
	}
}

// Times are bounded: 2000-01-01 to 2099-12-31 UTC, in the envelope and in
// data, so historical imports from 2015 pass and year 0001 or 9999 does not.
func TestTimesMustBePlausible(t *testing.T) {
	for _, c := range []struct {
		time string
		ok   bool
	}{
		{"2015-05-01T09:30:00Z", true},
		{"2000-01-01T00:00:00Z", true},
		{"2099-12-31T23:59:59.999Z", true},
		{"2015-05-01T09:30:00+01:00", true},
		{"1999-12-31T23:59:59Z", false},
		{"2000-01-01T00:30:00+01:00", false}, // 1999 in UTC
		{"2100-01-01T00:00:00Z", false},
		{"0001-01-01T00:00:00Z", false},
		{"9999-12-31T23:59:59Z", false},
		{"2015-05-01t09:30:00z", false}, // Go reads only upper case
		{"2015-05-01T09:30:60Z", false}, // Go has no leap second
	} {
		for _, field := range []string{`"time": "2026-11-20T02:15:00Z"`, `"detainedAt": "2026-11-20T02:15:00Z"`} {
			name, _, _ := strings.Cut(field, ":")
			_, err := events.Parse(withValue(t, field, name+`: "`+c.time+`"`))
			if c.ok && err != nil {
				t.Errorf("%s %s refused: %v", name, c.time, err)
			}
			if !c.ok && (!errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "is not a valid date-time")) {
				t.Errorf("%s %s: %v, want refused as not a valid date-time", name, c.time, err)
			}
		}
	}
}

// JSON that two readers could read differently is refused, naming where.
func TestHostileJSONIsRefusedNamingWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		name, from, to, says string
	}{
		{"duplicate key in data", `"locationType": "public_place"`, `"locationType": "private_dwelling", "locationType": "public_place"`, `/data/locationType: duplicate key "locationType"`},
		{"duplicate key, escaped", `"consulted": true`, `"consulted": true, "c\u006fnsulted": false`, `/data/consulted: duplicate key "consulted"`},
		{"duplicate envelope key", `"actor": "staff-1042"`, `"actor": "staff-1042", "actor": "staff-9999"`, `/actor: duplicate key "actor"`},
		{"lone high surrogate", `"actor": "staff-1042"`, `"actor": "staff-\ud800"`, `/actor: lone surrogate \ud800`},
		{"lone low surrogate", `"actor": "staff-1042"`, `"actor": "\udc00staff"`, `/actor: lone surrogate \udc00`},
		{"reversed pair", `"actor": "staff-1042"`, `"actor": "\udc00\ud800"`, `/actor: lone surrogate`},
		{"invalid UTF-8", `"actor": "staff-1042"`, "\"actor\": \"staff-\xff\"", `not valid UTF-8`},
		{"overlong UTF-8", `"actor": "staff-1042"`, "\"actor\": \"staff-\xc0\xaf\"", `not valid UTF-8`},
		{"trailing value", "}\n}", "}\n} {}", `not valid JSON`},
	} {
		_, err := events.Parse(withValue(t, c.from, c.to))
		if !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want refused saying %q", c.name, err, c.says)
		}
	}
	// A proper surrogate pair is fine.
	if _, err := events.Parse(withValue(t, `"actor": "staff-1042"`, `"actor": "staff-\ud83d\ude00"`)); err != nil {
		t.Errorf("a surrogate pair refused: %v", err)
	}
}
