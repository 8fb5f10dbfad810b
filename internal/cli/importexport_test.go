package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/reports"
	"github.com/crisisbus/crisisbus/services/reports/reportgen"
)

// pathwayEvents is a year of detentions and street triage, shuffled across
// agencies as a bulk load from several systems would be.
func pathwayEvents(t *testing.T, seed uint64, perMonth int) []events.Event {
	t.Helper()
	g := reportgen.New(seed)
	var evs []events.Event
	from := reports.MonthFor(2025, time.January)
	for m := from; m < from+12; m++ {
		for range perMonth {
			evs = append(evs, g.Detention(g.RandomDetention(g.InMonth(m), reportgen.Outcomes[g.Rand().IntN(4)]))...)
			evs = append(evs, g.StreetTriage(g.InMonth(m), g.Rand().IntN(3) == 0)...)
		}
	}
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	return evs
}

func export(t *testing.T, dataDir, url string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "export.ndjson")
	code, stdout, stderr := run(append([]string{"export", "--data", dataDir, "--nats", url, "-o", out}, args...)...)
	if code != 0 {
		t.Fatalf("export exited %d: %s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An export is the imported file, byte for byte and in order; importing it
// into another crisisbus and exporting again gives the same bytes, and
// importing it into the same one stores nothing twice.
func TestImportExportImportRoundTripsByteIdentical(t *testing.T) {
	evs := pathwayEvents(t, 11, 8)
	dir := t.TempDir()
	orig := filepath.Join(dir, "load.ndjson")
	writeNDJSON(t, orig, evs)
	// One line written by another system with its attributes in another
	// order: crisisbus stores every event exactly as given.
	raw, _ := events.Encode(evs[0])
	var m map[string]json.RawMessage
	json.Unmarshal(raw, &m)
	reordered := fmt.Sprintf(`{"data":%s,"type":%s,"time":%s,"subject":%s,"source":%s,"specversion":%s,"id":%s,"datacontenttype":%s,"dataschema":%s}`,
		m["data"], m["type"], m["time"], m["subject"], m["source"], m["specversion"], m["id"], m["datacontenttype"], m["dataschema"])
	all, _ := os.ReadFile(orig)
	lines := strings.SplitAfter(string(all), "\n")
	lines[0] = reordered + "\n"
	os.WriteFile(orig, []byte(strings.Join(lines, "")), 0o600)

	// In small batches, each sent before the one before it is acknowledged:
	// still stored in the file's order.
	a := bustest.Start(t, "")
	if code, out, errOut := run("import", "--data", a.DataDir(), "--nats", a.URL(), "--batch", "5", orig); code != 0 {
		t.Fatalf("import: exit %d: %s%s", code, out, errOut)
	}
	first := export(t, a.DataDir(), a.URL())
	if want := strings.Join(lines, ""); string(first) != want {
		t.Fatalf("export differs from the imported file (%d bytes, want %d)", len(first), len(want))
	}

	b := bustest.Start(t, "")
	exported := filepath.Join(dir, "exported.ndjson")
	os.WriteFile(exported, first, 0o600)
	code, out, errOut := run("import", "--data", b.DataDir(), "--nats", b.URL(), exported)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d loaded, 0 duplicates, 0 rejected", len(evs))) {
		t.Fatalf("re-import: exit %d: %s%s", code, out, errOut)
	}
	if second := export(t, b.DataDir(), b.URL()); !bytes.Equal(first, second) {
		t.Fatalf("import → export → import → export is not byte-identical")
	}

	// Importing the export into the first crisisbus again: every event is a
	// duplicate (the stream drops a repeated event id) and the exit code is 0.
	code, out, errOut = run("import", "--data", a.DataDir(), "--nats", a.URL(), exported)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("0 loaded, %d duplicates, 0 rejected", len(evs))) {
		t.Fatalf("import twice: exit %d: %s%s", code, out, errOut)
	}

	// --from/--to keeps the events whose time is in those London months.
	part := export(t, a.DataDir(), a.URL(), "--from", "2025-03", "--to", "2025-04")
	want := 0
	for _, e := range evs {
		if m := reports.MonthOf(e.Time); m == reports.MonthFor(2025, time.March) || m == reports.MonthFor(2025, time.April) {
			want++
		}
	}
	if got := bytes.Count(part, []byte("\n")); got != want || want == 0 {
		t.Fatalf("export of March and April 2025: %d events, want %d", got, want)
	}
}

// An export is imported back by an operator with every agency's rights,
// so it carries only events that could have been published as they stand.
// An agency's user may store raw bytes under its own prefix (and the stream
// denies deletes): not JSON, JSON with no time, another agency's event on
// its own subject, or lines of its own with another agency's event among
// them. Each export, with a range or without, writes every event, names
// each such message on stderr by stream sequence and subject with the
// reason (never its contents), counts them in its summary and exits 1, as
// import does for a rejected line; none of them reaches the file.
func TestAnExportSetsAsideEachStoredMessageAnImportCouldNotPublishAndSaysSo(t *testing.T) {
	b := bustest.Start(t, "")
	lines := eventLines(t, 5)
	in := filepath.Join(t.TempDir(), "in.ndjson")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("import", "--data", b.DataDir(), "--nats", b.URL(), in); code != 0 {
		t.Fatalf("import exited %d: %s%s", code, out, errOut)
	}
	// The AMHP service's decision, as a police user would forge it.
	forged, err := events.New(events.AMHP, events.NewEpisodeID(), &events.AssessmentCompleted{Outcome: "not_admitted",
		CompletedAt: time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC), Notes: "Sam Lee at 4 Mill Lane"}, events.At(time.Date(2025, 6, 1, 3, 0, 0, 0, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := events.Encode(forged)
	if err != nil {
		t.Fatal(err)
	}
	// The police's own user stores them under its own prefix: stream
	// sequences 6 to 9.
	js, err := bustest.Conn(t, b, events.Police).JetStream()
	if err != nil {
		t.Fatal(err)
	}
	subject := func() string { return "crisis.police." + events.NewEpisodeID() + ".episode_opened_v1" }
	stored := []struct{ subj, body, reason string }{
		{subject(), "Sam Lee at 4 Mill Lane", "not JSON"},
		{subject(), `{"note":"Sam Lee at 4 Mill Lane"}`, "its envelope does not belong on the subject it was stored on"},
		{"crisis.police." + forged.Subject + ".assessment_completed_v1", string(raw), "its envelope does not belong on the subject it was stored on"},
		{subject(), "Sam Lee\n" + string(raw), "not one line"},
	}
	for _, m := range stored {
		if _, err := js.Publish(m.subj, []byte(m.body)); err != nil {
			t.Fatalf("raw publish: %v", err)
		}
	}

	for _, args := range [][]string{{"--from", "2025-01", "--to", "2025-12"}, nil} {
		out := filepath.Join(t.TempDir(), "export.ndjson")
		code, stdout, stderr := run(append([]string{"export", "--data", b.DataDir(), "--nats", b.URL(), "-o", out}, args...)...)
		if code != 1 {
			t.Errorf("export %v exited %d, want 1 (something was set aside):\n%s%s", args, code, stdout, stderr)
		}
		for i, m := range stored {
			if want := fmt.Sprintf("stream sequence %d on %s set aside (not an event an import may publish again): %s\n", 6+i, m.subj, m.reason); !strings.Contains(stderr, want) {
				t.Errorf("export %v: stderr does not say %q:\n%s", args, want, stderr)
			}
		}
		if want := "crisisbus export: 4 stored message(s) set aside, named above: none is an event an import may publish again; every stored event was written"; !strings.Contains(stderr, want) {
			t.Errorf("export %v: stderr does not say %q:\n%s", args, want, stderr)
		}
		if strings.Contains(stderr, "Mill Lane") {
			t.Errorf("stderr repeats what a message holds:\n%s", stderr)
		}
		if want := fmt.Sprintf("5 events written to %s, 4 stored message(s) set aside\n", out); stdout != want {
			t.Errorf("summary %q, want %q", stdout, want)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(lines, "\n") + "\n"; string(got) != want {
			t.Fatalf("export %v is not every event:\n%s", args, got)
		}
	}
}

// A file with bad lines loads every good line; each bad line is named with
// its line number and the reason, and the exit code says something was
// rejected.
func TestImportLoadsGoodLinesAndNamesEachBadOne(t *testing.T) {
	evs := pathwayEvents(t, 5, 1)[:20]
	var lines []string
	for _, e := range evs {
		raw, _ := events.Encode(e)
		lines = append(lines, string(raw))
	}
	dwelling, _ := os.ReadFile("../../schemas/testdata/invalid/s136-in-a-private-dwelling.json")
	unknown, _ := os.ReadFile("../../schemas/testdata/invalid/unknown-type.json")
	police, _ := os.ReadFile("../../schemas/testdata/invalid/police-records-an-assessment-outcome.json")
	insert := map[int]string{ // after which good line, which bad line
		2:  compact(t, dwelling),
		5:  `{"specversion":"1.0","id":`, // cut off mid-line
		9:  compact(t, unknown),
		14: compact(t, police),
		17: lines[3], // the same event again: a duplicate, not an error
	}
	var file []string
	badLine := map[int]string{}
	for i, l := range lines {
		file = append(file, l)
		if bad, ok := insert[i]; ok {
			file = append(file, "")
			file = append(file, bad)
			badLine[len(file)] = bad
		}
	}
	path := filepath.Join(t.TempDir(), "with-bad-lines.ndjson")
	os.WriteFile(path, []byte(strings.Join(file, "\n")+"\n"), 0o600)

	b := bustest.Start(t, "")
	code, out, errOut := run("import", "--data", b.DataDir(), "--nats", b.URL(), "--batch", "4", path)
	if code != 1 {
		t.Fatalf("import with bad lines exited %d, want 1:\n%s%s", code, out, errOut)
	}
	for n, bad := range badLine {
		named := strings.Contains(errOut, fmt.Sprintf("line %d: rejected: ", n))
		if bad == lines[3] && named {
			t.Errorf("line %d repeats an event: a duplicate, not a rejection:\n%s", n, errOut)
		} else if bad != lines[3] && !named {
			t.Errorf("bad line %d is not named:\n%s", n, errOut)
		}
	}
	for _, reason := range []string{"/data/locationType", "not valid JSON", "is not in the catalogue", "may not publish assessment.completed"} {
		if !strings.Contains(errOut, reason) {
			t.Errorf("stderr does not give the reason %q:\n%s", reason, errOut)
		}
	}
	if n := strings.Count(errOut, "rejected:"); n != 4 {
		t.Errorf("%d lines named as rejected, want 4:\n%s", n, errOut)
	}
	if !strings.Contains(out, "20 loaded, 1 duplicates, 4 rejected") {
		t.Fatalf("summary: %s", out)
	}
	// Every good line is stored, in file order.
	var want strings.Builder
	for _, l := range lines {
		want.WriteString(l + "\n")
	}
	if got := export(t, b.DataDir(), b.URL()); string(got) != want.String() {
		t.Fatalf("stored events differ from the good lines:\n%s", got)
	}
}

// Progress is a bar with the rate on a terminal, and plain lines otherwise
// (a log file or CI).
func TestImportProgressOnTerminalAndInLogs(t *testing.T) {
	var buf bytes.Buffer
	p := &progressPrinter{w: &buf, tty: true, total: 1000}
	p.update(500, ImportStats{Loaded: 40, Duplicates: 10, Elapsed: time.Second})
	if got := buf.String(); !strings.Contains(got, "[===============               ]  50% 50 events, 50 events/s") || !strings.HasPrefix(got, "\r") {
		t.Fatalf("terminal progress: %q", got)
	}
	buf.Reset()
	lineWriter{p}.Write([]byte("line 7: rejected: bad\n"))
	if got := buf.String(); got != "\r\033[Kline 7: rejected: bad\n" {
		t.Fatalf("a rejected line clears the bar first: %q", got)
	}
	buf.Reset()
	p = &progressPrinter{w: &buf, tty: false}
	p.update(500, ImportStats{Loaded: 200, Rejected: 2, Elapsed: 2 * time.Second})
	if got := buf.String(); got != "import: 202 events (200 loaded, 0 duplicates, 2 rejected), 101 events/s\n" {
		t.Fatalf("plain progress: %q", got)
	}
}
