package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// The fast decoder reads exactly what encoding/json reads, on every valid
// example of the contract and on events with escapes, spacing and every
// field the reports count.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob("../../schemas/testdata/valid/*.json")
	if len(files) < 30 {
		t.Fatalf("only %d examples found", len(files))
	}
	var docs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, b)
	}
	age := 16
	for _, data := range []any{
		events.S136Detained{DetainedAt: time.Date(2016, 3, 27, 0, 30, 0, 0, time.UTC), LocationType: "public_place", AgeYears: age, KeptWhereTheyAre: true, Consulted: true},
		events.AssessmentCompleted{Outcome: "informal_admission", CompletedAt: time.Date(2015, 5, 31, 23, 30, 0, 123000000, time.UTC), Notes: "said \"I feel safer here\"\n\tand \\ slept"},
		events.StreetTriageOutcome{S136Avoided: true, Outcome: "safe_haven", Notes: "{not: [an object]}"},
	} {
		e, err := events.New(events.Police, events.NewEpisodeID(), data)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(e)
		docs = append(docs, raw)
	}
	for _, doc := range docs {
		var want, got envelope
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatal(err)
		}
		err := decode(doc, &got)
		if !counted[want.Type] {
			if err != errNotCounted || got.Type != want.Type {
				t.Errorf("a %s is not counted: decode gave %v", want.Type, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, doc)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("decode differs from encoding/json:\n got %+v\nwant %+v\n%s", got, want, doc)
		}
	}
	for _, bad := range []string{``, `[]`, `{"id":`, `{"id":"x"`, `{"id" "x"}`, `{"data":{"ageYears":"16"}}`, `{"time":"yesterday"}`, `{"data":{"s136Avoided":1}}`} {
		var e envelope
		if err := decode([]byte(bad), &e); err == nil {
			t.Errorf("decode accepted %q", bad)
		}
	}
}

// An event loaded again after the stream's duplicate window is stored twice
// but counted once; a message that is not a crisisbus event is listed, not
// counted.
func TestProjectionCountsAnEventOnce(t *testing.T) {
	e, err := events.New(events.AMHP, events.NewEpisodeID(), events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: time.Date(2016, 1, 5, 3, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(e)
	subj, _ := events.Subject(e)
	p := NewProjection()
	p.Apply(natsbus.Stored{Seq: 1, Subject: subj, Raw: raw})
	p.Apply(natsbus.Stored{Seq: 1, Subject: subj, Raw: raw}) // the same stream message, replayed
	p.Apply(natsbus.Stored{Seq: 7, Subject: subj, Raw: raw}) // the same event, stored again later
	p.Apply(natsbus.Stored{Seq: 8, Subject: "crisis.police." + e.Subject + ".assessment_completed_v1", Raw: raw})
	p.Apply(natsbus.Stored{Seq: 9, Subject: subj, Raw: []byte("not json")})
	jan := MonthFor(2016, time.January)
	tab, _ := p.Report("s136", Range{From: jan, To: jan})
	if got := tab.Rows[0]; got.Label != "Not Admitted" || got.Cells[0] != "1" {
		t.Fatalf("counted %v", tab.Rows)
	}
	if p.Applied() != 1 || p.Duplicates() != 1 || len(p.Skipped()) != 2 || p.Skipped()[0].Seq != 8 ||
		!strings.Contains(p.Skipped()[0].Reason, "published on crisis.police.") {
		t.Fatalf("applied %d, duplicates %d, skipped %+v", p.Applied(), p.Duplicates(), p.Skipped())
	}
}
