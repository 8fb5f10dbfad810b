package reports_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/reports"
)

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// section returns the HTML of one report's table.
func section(t *testing.T, page, name string) string {
	t.Helper()
	start := strings.Index(page, `<table id="`+name+`-table"`)
	if start < 0 {
		t.Fatalf("no %s table on the page", name)
	}
	end := strings.Index(page[start:], "</table>")
	return page[start : start+end]
}

func htmlRow(label string, cells []string) string {
	return `<tr><th scope="row">` + label + `</th><td>` + strings.Join(cells, "</td><td>") + `</td></tr>`
}

// The steering group opens the report page: every table, with its caption,
// column and row headings, the figures of the stream, and a chart each.
func TestReportPageShowsEveryTableWithItsFiguresAndAChart(t *testing.T) {
	b := bustest.Start(t, "")
	rng := reports.Range{From: reports.MonthFor(2015, time.July), To: reports.MonthFor(2016, time.June)}
	evs, x := scenario(t, 42, rng)
	publish(t, adminBus(t, b), evs)
	p, err := reports.Rebuild(context.Background(), adminBus(t, b))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2016, time.June, 15, 9, 0, 0, 0, reports.London) }
	srv := httptest.NewServer(reports.NewHandler(p, now))
	defer srv.Close()

	// With no period chosen, the page shows the twelve months to this one.
	code, hdr, page := get(t, srv.URL+"/")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`<html lang="en">`,
		`<label for="from">From month</label> <input id="from" name="from" type="month" value="2015-07" required>`,
		`<label for="to">To month</label> <input id="to" name="to" type="month" value="2016-06" required>`,
		fmt.Sprintf("Built from %d events", countedIn(evs)),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	s136 := section(t, page, "s136")
	if !strings.Contains(s136, `<caption>MHA assessments completed (every assessment.completed`) ||
		!strings.Contains(s136, `<thead><tr><th scope="col">Outcome</th><th scope="col">2015-07</th>`) ||
		!strings.Contains(s136, `<th scope="col">2016-06</th><th scope="col">Grand Total</th></tr></thead>`) {
		t.Errorf("s136 table headings:\n%s", s136)
	}
	notAdmitted := cells(rng, func(m reports.Month) int { return x.s136[m]["Not Admitted"] })
	if row := htmlRow("Not Admitted", notAdmitted); !strings.Contains(s136, row) {
		t.Errorf("s136 table lacks %s:\n%s", row, s136)
	}
	triage := section(t, page, "triage")
	if row := htmlRow("Total S136 Avoided", cells(rng, func(m reports.Month) int { return x.avoided[m] })); !strings.Contains(triage, row) {
		t.Errorf("triage table lacks %s:\n%s", row, triage)
	}
	places := section(t, page, "places")
	if row := htmlRow("Police station", cells(rng, func(m reports.Month) int { return x.places[m]["Police station"] })); !strings.Contains(places, row) {
		t.Errorf("places table lacks %s:\n%s", row, places)
	}
	for _, n := range reports.Names {
		section(t, page, n)
		if !strings.Contains(page, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="`+n+`-chart-title `+n+`-chart-desc"`) {
			t.Errorf("no accessible chart for %s", n)
		}
	}
	// One bar per month for each outcome row with a count, each titled with its figure.
	if want := fmt.Sprintf("<title>Not Admitted 2015-07: %s</title>", notAdmitted[0]); !strings.Contains(page, want) {
		t.Errorf("chart lacks the bar %s", want)
	}

	// Another period, and a table downloaded as CSV as the page links it.
	code, _, page = get(t, srv.URL+"/?from=2016-01&to=2016-03")
	if code != http.StatusOK || !strings.Contains(page, `<th scope="col">2016-03</th><th scope="col">Grand Total</th>`) || strings.Contains(page, `<th scope="col">2015-12</th>`) {
		t.Fatalf("January to March 2016: %d", code)
	}
	if !strings.Contains(page, `href="?format=csv&amp;from=2016-01&amp;report=s136&amp;to=2016-03"`) {
		t.Errorf("no CSV link for the s136 table")
	}
	code, hdr, csv := get(t, srv.URL+"/?format=csv&from=2016-01&report=s136&to=2016-03")
	want, _ := p.Report("s136", reports.Range{From: reports.MonthFor(2016, time.January), To: reports.MonthFor(2016, time.March)})
	if code != http.StatusOK || hdr.Get("Content-Type") != "text/csv; charset=utf-8" || csv != text(want) {
		t.Fatalf("CSV download: %d %s\n%s\nwant\n%s", code, hdr.Get("Content-Type"), csv, text(want))
	}

	// Mistakes are named.
	if code, _, body := get(t, srv.URL+"/?from=2016-13&to=2016-03"); code != http.StatusBadRequest || !strings.Contains(body, `--from: month "2016-13": want YYYY-MM`) {
		t.Errorf("bad month: %d %s", code, body)
	}
	if code, _, body := get(t, srv.URL+"/?from=2016-04&to=2016-03"); code != http.StatusBadRequest || !strings.Contains(body, "is before") {
		t.Errorf("reversed period: %d %s", code, body)
	}
	if code, _, body := get(t, srv.URL+"/?report=cells&format=csv"); code != http.StatusNotFound || !strings.Contains(body, `unknown report "cells"`) {
		t.Errorf("unknown report: %d %s", code, body)
	}
}
