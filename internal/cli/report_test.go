package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/reports"
	"github.com/crisisbus/crisisbus/services/reports/reportgen"
)

// seedTable is a table as printed in a seed: month headings, then labelled
// rows of counts (the last heading may be a total).
type seedTable struct {
	months []reports.Month
	labels []string
	counts map[string][]int // label -> one count per month (totals dropped)
	lines  []string         // the rows as printed
}

func readSeedTable(t *testing.T, path string) seedTable {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st := seedTable{counts: map[string][]int{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if st.months == nil {
			for _, h := range fields {
				if m, err := reports.ParseMonth(h); err == nil {
					st.months = append(st.months, m)
				}
			}
			continue
		}
		i := 0
		for i < len(fields) {
			if _, err := strconv.Atoi(fields[i]); err == nil {
				break
			}
			i++
		}
		label := strings.Join(fields[:i], " ")
		var nums []int
		for _, f := range fields[i:] {
			n, _ := strconv.Atoi(f)
			nums = append(nums, n)
		}
		st.labels = append(st.labels, label)
		st.counts[label] = nums[:len(st.months)]
		st.lines = append(st.lines, label+","+strings.Join(fields[i:], ","))
	}
	return st
}

// writeNDJSON writes events one per line, as an agency's system would export them.
func writeNDJSON(t *testing.T, path string, evs []events.Event) {
	t.Helper()
	var b strings.Builder
	for _, e := range evs {
		raw, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(raw)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func pct(part, whole int) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// The partnership's table of s136 assessments for May 2015 to April 2016
// (seed 003 §4.3.6) comes out of the stream exactly: 1018 detentions are
// assessed, their events imported, and the report reproduces every row and
// total, labelled from the outcomes recorded, with the conversion rate.
func TestReportS136ReproducesSeed003Table(t *testing.T) {
	seed := readSeedTable(t, "testdata/seed003_s136.txt")
	outcomes := map[string][]string{ // how the AMHP service records each row's outcome
		"Admitted Informal":  {"informal_admission"},
		"Admitted Sectioned": {"detained_s2", "detained_s3"},
		"Not Admitted":       {"not_admitted"},
	}
	g := reportgen.New(3)
	var evs []events.Event
	assessed := 0
	for _, label := range []string{"Admitted Informal", "Admitted Sectioned", "Not Admitted"} {
		for i, m := range seed.months {
			for range seed.counts[label][i] {
				os := outcomes[label]
				evs = append(evs, g.Detention(g.RandomDetention(g.InMonth(m), os[g.Rand().IntN(len(os))]))...)
				assessed++
			}
		}
	}
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	if assessed != 1018 {
		t.Fatalf("seed 003 counts %d assessments, want 1018", assessed)
	}
	// Street triage (seed 003 §4.4.7), in the same file.
	triage := readSeedTable(t, "testdata/seed003_triage.txt")
	for i, m := range triage.months {
		refs, avoided := triage.counts["Total Referrals"][i], triage.counts["Total S136 Avoided"][i]
		for j := range refs {
			evs = append(evs, g.StreetTriage(g.InMonth(m), j < avoided)...)
		}
	}
	g.Rand().Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })

	b := bustest.Start(t, "")
	file := filepath.Join(t.TempDir(), "kent-medway-2015-16.ndjson")
	writeNDJSON(t, file, evs)
	code, out, errOut := run("import", "--data", b.DataDir(), "--nats", b.URL(), file)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d loaded, 0 duplicates, 0 rejected", len(evs))) {
		t.Fatalf("import exited %d:\n%s%s", code, out, errOut)
	}

	code, out, errOut = run("report", "s136", "--from", "2015-05", "--to", "2016-04", "--format", "csv", "--data", b.DataDir(), "--nats", b.URL())
	if code != 0 {
		t.Fatalf("report exited %d: %s", code, errOut)
	}
	var want strings.Builder
	want.WriteString("Outcome")
	for _, m := range seed.months {
		want.WriteString("," + m.String())
	}
	want.WriteString(",Grand Total\n")
	for _, l := range seed.lines {
		want.WriteString(l + "\n")
	}
	// Conversion rate: admitted (informal or sectioned) over all assessed.
	want.WriteString("Conversion Rate")
	var adm, all int
	for i := range seed.months {
		a := seed.counts["Admitted Informal"][i] + seed.counts["Admitted Sectioned"][i]
		n := seed.counts["Grand Total"][i]
		adm, all = adm+a, all+n
		want.WriteString("," + pct(a, n))
	}
	want.WriteString("," + pct(adm, all) + "\n")
	if out != want.String() {
		t.Fatalf("s136 report:\n%s\nwant seed 003 §4.3.6:\n%s", out, want.String())
	}
	if !strings.Contains(out, "Conversion Rate,11.1%,") || !strings.HasSuffix(out, ",19.7%\n") {
		t.Fatalf("conversion rate: May 2015 is 8 of 72 admitted, the year 201 of 1018:\n%s", out)
	}

	code, out, errOut = run("report", "triage", "--from", "2015-12", "--to", "2016-04", "--format", "csv", "--data", b.DataDir(), "--nats", b.URL())
	if code != 0 {
		t.Fatalf("triage report exited %d: %s", code, errOut)
	}
	want.Reset()
	want.WriteString("Street Triage referrals,2015-12,2016-01,2016-02,2016-03,2016-04,Grand Total\n")
	want.WriteString("Total Referrals,27,48,56,61,40,232\n")
	want.WriteString("Total S136 Avoided,7,4,19,12,13,55\n")
	want.WriteString("S136 Avoided Rate,25.9%,8.3%,33.9%,19.7%,32.5%,23.7%\n")
	if out != want.String() {
		t.Fatalf("triage report:\n%s\nwant seed 003 §4.4.7:\n%s", out, want.String())
	}
}

// report says where its counts came from: rebuilt from the whole stream
// until the console has saved a snapshot of the reports, then from the
// snapshot and the events stored after it, giving the tables --rebuild
// gives from the whole stream.
func TestReportReadsTheConsolesSnapshotAndSaysSo(t *testing.T) {
	g := reportgen.New(5)
	var first, later []events.Event
	for i := range 60 {
		m := reports.MonthFor(2016, time.Month(1+i%12))
		evs := g.Detention(g.RandomDetention(g.InMonth(m), reportgen.Outcomes[i%len(reportgen.Outcomes)]))
		first, later = append(first, evs[:2]...), append(later, evs[2:]...)
	}
	b := bustest.Start(t, "")
	dir := t.TempDir()
	load := func(name string, evs []events.Event) {
		t.Helper()
		file := filepath.Join(dir, name)
		writeNDJSON(t, file, evs)
		if code, out, errOut := run("import", "--data", b.DataDir(), "--nats", b.URL(), file); code != 0 {
			t.Fatalf("import exited %d:\n%s%s", code, out, errOut)
		}
	}
	report := func(extra ...string) (string, string) {
		t.Helper()
		args := append([]string{"report", "all", "--from", "2016-01", "--to", "2016-12", "--format", "csv", "--data", b.DataDir(), "--nats", b.URL()}, extra...)
		code, out, errOut := run(args...)
		if code != 0 {
			t.Fatalf("report exited %d: %s", code, errOut)
		}
		return out, errOut
	}
	load("first.ndjson", first)
	if _, errOut := report(); !strings.Contains(errOut, fmt.Sprintf("rebuilt from all %d stored event(s), no snapshot used: no snapshot saved yet", len(first))) {
		t.Fatalf("report before any snapshot said:\n%s", errOut)
	}

	nc := bustest.Conn(t, b, events.Agency(rights.Console))
	cbus, err := natsbus.NewBus(nc, "", bustest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	svc := reports.Start(context.Background(), cbus, bustest.Logger())
	defer svc.Stop()
	bustest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if got := svc.Projection().Last(); got != uint64(len(first)) {
			return fmt.Errorf("the console's reports hold through %d of %d", got, len(first))
		}
		return nil
	})
	if _, err := svc.SaveSnapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	load("later.ndjson", later)
	fromSnapshot, errOut := report()
	if want := fmt.Sprintf("from the snapshot through stream sequence %d (saved ", len(first)); !strings.Contains(errOut, want) ||
		!strings.Contains(errOut, fmt.Sprintf("and the %d event(s) stored after it", len(later))) {
		t.Fatalf("report after the console's snapshot said:\n%s\nwant %q and the %d events after it", errOut, want, len(later))
	}
	rebuilt, errOut := report("--rebuild")
	if !strings.Contains(errOut, "no snapshot used: --rebuild given") {
		t.Fatalf("report --rebuild said:\n%s", errOut)
	}
	if fromSnapshot != rebuilt {
		t.Fatalf("from the snapshot:\n%s\nrebuilt:\n%s", fromSnapshot, rebuilt)
	}
	if !strings.Contains(rebuilt, "Grand Total") {
		t.Fatalf("no tables:\n%s", rebuilt)
	}
}
