package events_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// Encode writes the envelope without reflection when it can (encode.go).
// On every example, every systematic variation of them (variants), and
// each of them changed where the writer must give way to json.Marshal (a
// character json.Marshal escapes, data with spaces, a time not in UTC),
// Encode gives exactly json.Marshal's bytes, and refuses exactly what Parse
// refuses of those bytes, in the same words.
func TestEncodeWritesWhatJSONMarshalWrites(t *testing.T) {
	changes := map[string]func(e *events.Event){
		"as is":                           func(*events.Event) {},
		"actor with an accent":            func(e *events.Event) { e.Actor = "Zoë" },
		"actor with <b>":                  func(e *events.Event) { e.Actor = "<b>&" },
		"actor with a quote":              func(e *events.Event) { e.Actor = `say "x"` },
		"purpose with a line break":       func(e *events.Event) { e.Purpose = "a\nb" },
		"invalid UTF-8 actor":             func(e *events.Event) { e.Actor = "a\xffb" },
		"data with spaces":                func(e *events.Event) { e.Data = append([]byte(" "), e.Data...) },
		"data with a separator in a name": func(e *events.Event) { e.Data = bytes.Replace(e.Data, []byte(`"`), []byte("\"\u2028"), 1) },
		"data with a separator in a value": func(e *events.Event) {
			if i := bytes.LastIndex(e.Data, []byte(`":"`)); i >= 0 {
				e.Data = slices.Concat(e.Data[:i+3], []byte("\u2028"), e.Data[i+3:])
			}
		},
		"data null":              func(e *events.Event) { e.Data = nil },
		"data empty":             func(e *events.Event) { e.Data = json.RawMessage{} },
		"data not JSON":          func(e *events.Event) { e.Data = json.RawMessage(`{"a":`) },
		"time in +01:00":         func(e *events.Event) { e.Time = e.Time.In(time.FixedZone("", 3600)) },
		"time in the year 10000": func(e *events.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"time zero":              func(e *events.Event) { e.Time = time.Time{} },
		"time with nanoseconds":  func(e *events.Event) { e.Time = e.Time.Add(123456789) },
		"traced":                 func(e *events.Event) { e.TraceParent, e.TraceState = events.NewTrace().String(), "acme=7f3a" },
		"no spec version":        func(e *events.Event) { e.SpecVersion = "" },
		"source not an agency":   func(e *events.Event) { e.Source = "nobody" },
		"addressed to itself":    func(e *events.Event) { e.ToAgency = e.Source },
		"data schema of another": func(e *events.Event) { e.DataSchema = "https://crisisbus.local/schemas/v1/s136.released.json" },
		"data with a space inside a string": func(e *events.Event) {
			e.Data = bytes.Replace(e.Data, []byte(`":"`), []byte(`":"a `), 1)
		},
	}
	checked, fast := 0, 0
	for name, raw := range variants(t) {
		var base events.Event
		if json.Unmarshal(raw, &base) != nil {
			continue // not an envelope Go can hold
		}
		for what, change := range changes {
			if what != "as is" && strings.Contains(name, " ") {
				continue // each change on the examples themselves
			}
			e := base
			// Compact, as events.New makes it.
			var data bytes.Buffer
			if json.Compact(&data, base.Data) != nil {
				continue
			}
			e.Data = data.Bytes()
			change(&e)
			want, merr := json.Marshal(e)
			got, err := events.Encode(e)
			where := fmt.Sprintf("%s, %s", name, what)
			switch {
			case merr != nil:
				if err == nil {
					t.Errorf("%s: json.Marshal fails (%v) but Encode gave %s", where, merr, got)
				}
				continue
			case err != nil:
				_, perr := events.Parse(want)
				if perr == nil || sameWords(perr.Error()) != sameWords(err.Error()) {
					t.Errorf("%s: Encode refused with %v; Parse of json.Marshal's bytes says %v", where, err, perr)
				}
				continue
			}
			if _, perr := events.Parse(want); perr != nil {
				t.Errorf("%s: Encode accepted what Parse refuses: %v", where, perr)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: Encode wrote\n%s\njson.Marshal writes\n%s", where, got, want)
			}
			checked++
			if what == "as is" {
				fast++
			}
		}
	}
	if checked < 100 || fast < 40 {
		t.Fatalf("only %d events encoded (%d examples as they are): the test says little", checked, fast)
	}
}

// sameWords is an error's text with its problems, and the names listed in
// each, in order: the general validator lists them in no fixed order.
func sameWords(msg string) string {
	problems := strings.Split(msg, "; ")
	for i, p := range problems {
		names := strings.Split(p, ", ")
		slices.Sort(names)
		problems[i] = strings.Join(names, ", ")
	}
	slices.Sort(problems)
	return strings.Join(problems, "; ")
}
