package reports

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NewHandler serves the report page: every report as an HTML table with a
// chart, for ?from=YYYY-MM&to=YYYY-MM (default: the twelve months to the
// current one, by now). With ?report=NAME&format=csv|json it serves that one
// table as a download. Plain server-rendered HTML: no script.
func NewHandler(p *Projection, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return &handler{p: p, now: now}
}

// maxPageMonths bounds the columns of a page.
const maxPageMonths = 120

type handler struct {
	p   *Projection
	now func() time.Time
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the report page is read-only", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	rng, err := RangeFromQuery(q, h.now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if name := q.Get("report"); name != "" {
		t, err := h.p.Report(name, rng)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		format := q.Get("format")
		switch format {
		case "csv":
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("%s_%s_%s.csv", name, rng.From, rng.To)))
		case "json":
			w.Header().Set("Content-Type", "application/json")
		default:
			http.Error(w, fmt.Sprintf("format %q: want csv or json", format), http.StatusBadRequest)
			return
		}
		_ = Write(w, t, format)
		return
	}
	frag, err := Fragment(h.p, rng)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.ExecuteTemplate(w, "page", struct {
		From, To string
		Body     template.HTML
	}{rng.From.String(), rng.To.String(), frag}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// RangeFromQuery reads ?from=YYYY-MM&to=YYYY-MM; the default is the twelve
// months to the current one, by now. A range longer than a page shows is an error.
func RangeFromQuery(q url.Values, now time.Time) (Range, error) {
	cur := MonthOf(now)
	from, to := q.Get("from"), q.Get("to")
	if to == "" {
		to = cur.String()
	}
	if from == "" {
		if m, err := ParseMonth(to); err == nil {
			from = (m - 11).String()
		}
	}
	rng, err := ParseRange(from, to)
	rng.AsOf = now
	if err == nil && rng.Len() > maxPageMonths {
		err = fmt.Errorf("%s to %s is %d months; the page shows at most %d", rng.From, rng.To, rng.Len(), maxPageMonths)
	}
	return rng, err
}

// Fragment renders every report over rng as HTML to place inside a page:
// the period form, then each table with its chart and download links. The
// standalone page and the web console both show it, so the tables are
// written once.
func Fragment(p *Projection, rng Range) (template.HTML, error) {
	var b strings.Builder
	err := pageTmpl.ExecuteTemplate(&b, "tables", pageData{From: rng.From.String(), To: rng.To.String(), Applied: p.Applied(), Seq: p.Last(), Tables: p.All(rng)})
	return template.HTML(b.String()), err
}

type pageData struct {
	From, To string
	Applied  int
	Seq      uint64
	Tables   []Table
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"chart": Chart,
	"download": func(name, format, from, to string) string {
		return "?" + url.Values{"report": {name}, "format": {format}, "from": {from}, "to": {to}}.Encode()
	},
}).Parse(`{{define "page"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Crisis pathway reports {{.From}} to {{.To}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1rem 2rem;color:#111}
table{border-collapse:collapse;margin:.5rem 0}
caption{text-align:left;max-width:60rem;padding:.25rem 0;color:#333}
th,td{border:1px solid #999;padding:.2rem .45rem}
td{text-align:right;font-variant-numeric:tabular-nums}
thead th{background:#eee;white-space:nowrap}
tbody th{text-align:left;font-weight:normal}
section{margin-bottom:2.5rem}
</style>
</head>
<body>
<header><h1>Crisis pathway reports</h1></header>
<main>
{{.Body}}
</main>
</body>
</html>
{{end}}{{define "tables"}}<form method="get" aria-label="Reporting period" class="report-period">
<label for="from">From month</label> <input id="from" name="from" type="month" value="{{.From}}" required>
<label for="to">To month</label> <input id="to" name="to" type="month" value="{{.To}}" required>
<button type="submit">Show reports</button>
</form>
<p>Months in Europe/London time. Built from {{.Applied}} events, up to stream sequence {{.Seq}}.</p>
{{range .Tables}}{{$t := .}}
<section id="{{.Name}}" aria-labelledby="{{.Name}}-title">
<h2 id="{{.Name}}-title">{{.Title}}</h2>
<table id="{{.Name}}-table" class="table report-table">
<caption>{{.Caption}}</caption>
<thead><tr><th scope="col">{{.Corner}}</th>{{range .Columns}}<th scope="col">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr><th scope="row">{{.Label}}</th>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<figure>
{{chart .}}
<figcaption>Chart of {{.Title}} by month (the table above has the figures).</figcaption>
</figure>
<p>Download: <a href="{{download .Name "csv" $.From $.To}}">{{.Title}} as CSV</a>, <a href="{{download .Name "json" $.From $.To}}">as JSON</a></p>
</section>
{{end}}{{end}}`))

var palette = []string{"#1b6ca8", "#d9822b", "#3a9d5d", "#b03a48", "#7b5ea7", "#8c6d31", "#4d4d4d"}

// Chart draws a table's charted rows as grouped bars, one group per month,
// as inline SVG with a title and description for screen readers.
func Chart(t Table) template.HTML {
	var series []Row
	for _, r := range t.Rows {
		if r.Chart {
			series = append(series, r)
		}
	}
	months := len(t.Columns) - 1 // the last column is the whole range
	const w, h, left, bottom, top = 760, 260, 48, 40, 12
	plotW, plotH := float64(w-left-10), float64(h-bottom-top)
	maxV := 0.0
	for _, s := range series {
		for _, v := range s.Values[:months] {
			if v != nil && *v > maxV {
				maxV = *v
			}
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	var b strings.Builder
	id := html.EscapeString(t.Name)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="%s-chart-title %s-chart-desc" width="%d" height="%d" viewBox="0 0 %d %d">`, id, id, w, h, w, h)
	var desc []string
	for _, s := range series {
		desc = append(desc, s.Label)
	}
	fmt.Fprintf(&b, `<title id="%s-chart-title">%s</title><desc id="%s-chart-desc">Bars per month for: %s (%s). Highest value %s.</desc>`,
		id, html.EscapeString(t.Title), id, html.EscapeString(strings.Join(desc, ", ")), html.EscapeString(t.Unit), trimFloat(maxV))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, left, top, left, h-bottom)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`, left, h-bottom, w-10, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">%s</text>`, left-4, top+8, trimFloat(maxV))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="end">0</text>`, left-4, h-bottom)
	if months > 0 && len(series) > 0 {
		group := plotW / float64(months)
		bar := group * 0.8 / float64(len(series))
		for i := 0; i < months; i++ {
			x0 := float64(left) + group*float64(i) + group*0.1
			for j, s := range series {
				v := s.Values[i]
				if v == nil {
					continue
				}
				bh := plotH * *v / maxV
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
					x0+bar*float64(j), float64(h-bottom)-bh, bar, bh, palette[j%len(palette)],
					html.EscapeString(s.Label), html.EscapeString(t.Columns[i]), html.EscapeString(s.Cells[i]))
			}
			if months <= 24 || i%3 == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`, x0+group*0.4, h-bottom+14, html.EscapeString(t.Columns[i]))
			}
		}
	}
	for j, s := range series {
		x := left + j*150
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d" font-size="11">%s</text>`,
			x, h-14, palette[j%len(palette)], x+14, h-5, html.EscapeString(s.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text inside is escaped above
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
