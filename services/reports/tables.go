package reports

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/places"
)

// Table is one report: a row per measure, a column per month of the range
// and a last column over the whole range.
type Table struct {
	Name    string   `json:"name"`
	Title   string   `json:"title"`
	Caption string   `json:"caption"` // what is counted, in one sentence
	Corner  string   `json:"corner"`  // heading of the label column
	Columns []string `json:"columns"` // YYYY-MM, then the whole-range column
	Rows    []Row    `json:"rows"`
	Unit    string   `json:"unit"` // unit of the charted rows: "count" or "hours"
}

// Row is one line of a table. Cells are what a person reads; Values are the
// same figures as numbers (nil where there is nothing to show), for JSON and
// the chart.
type Row struct {
	Label  string     `json:"label"`
	Cells  []string   `json:"cells"`
	Values []*float64 `json:"values"`
	// Chart marks the rows drawn in the table's chart (the series, not the
	// totals or rates).
	Chart bool `json:"chart,omitempty"`
}

// Names lists the reports, in the order the report page shows them.
var Names = []string{"s136", "triage", "detention", "delays", "followup", "places", "havens", "contacts"}

// Report builds the named table over the range.
func (p *Projection) Report(name string, r Range) (Table, error) {
	// The write lock: building a table sorts the month's durations in place.
	p.mu.Lock()
	defer p.mu.Unlock()
	switch name {
	case "s136":
		return p.s136Table(r), nil
	case "triage":
		return p.triageTable(r), nil
	case "detention":
		return p.detentionTable(r), nil
	case "delays":
		return p.delaysTable(r), nil
	case "followup":
		return p.followupTable(r), nil
	case "places":
		return p.placesTable(r), nil
	case "havens":
		return p.havensTable(r), nil
	case "contacts":
		return p.contactsTable(r), nil
	}
	return Table{}, fmt.Errorf("unknown report %q (want one of %s)", name, strings.Join(Names, ", "))
}

// All builds every report over the range.
func (p *Projection) All(r Range) []Table {
	out := make([]Table, 0, len(Names))
	for _, n := range Names {
		t, _ := p.Report(n, r)
		out = append(out, t)
	}
	return out
}

func columns(r Range, total string) []string {
	var c []string
	for _, m := range r.Months() {
		c = append(c, m.String())
	}
	return append(c, total)
}

func num(v float64) *float64 { return &v }

// countRow is a row of counts per month with their total.
func countRow(label string, r Range, chart bool, f func(Month) int) Row {
	row := Row{Label: label, Chart: chart}
	total := 0
	for _, m := range r.Months() {
		n := f(m)
		total += n
		row.Cells = append(row.Cells, fmt.Sprint(n))
		row.Values = append(row.Values, num(float64(n)))
	}
	row.Cells = append(row.Cells, fmt.Sprint(total))
	row.Values = append(row.Values, num(float64(total)))
	return row
}

// keysInRange returns the keys that occur in any month of the range: the
// rows a table has are the values found in the data.
func keysInRange[K comparable](m map[Month]map[K]int, r Range) []K {
	seen := map[K]bool{}
	var out []K
	for month, row := range m {
		if !r.Contains(month) {
			continue
		}
		for k, n := range row {
			if n > 0 && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// OutcomeLabel is the row label of an assessment outcome, as the
// partnership's table writes it: both detentions under section (s2, s3) are
// "Admitted Sectioned". An outcome it does not know is shown as recorded.
func OutcomeLabel(outcome string) string {
	switch outcome {
	case "detained_s2", "detained_s3":
		return "Admitted Sectioned"
	case "informal_admission":
		return "Admitted Informal"
	case "not_admitted":
		return "Not Admitted"
	}
	return outcome
}

func admitted(label string) bool { return strings.HasPrefix(label, "Admitted ") }

func (p *Projection) s136Table(r Range) Table {
	t := Table{Name: "s136", Title: "Section 136 assessments by outcome",
		Caption: "MHA assessments completed (every assessment.completed, with or without an s136 detention in the episode), by the month they were completed (Europe/London) and their recorded outcome; conversion rate is the share admitted, under section or informally.",
		Corner:  "Outcome", Columns: columns(r, "Grand Total"), Unit: "count"}
	// Rows are labelled from the outcomes in the data, in the order of a
	// pivot table: alphabetical by label.
	byLabel := map[string][]string{}
	for _, o := range keysInRange(p.s136, r) {
		l := OutcomeLabel(o)
		byLabel[l] = append(byLabel[l], o)
	}
	labels := make([]string, 0, len(byLabel))
	for l := range byLabel {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	count := func(m Month, outcomes []string) int {
		n := 0
		for _, o := range outcomes {
			n += p.s136[m][o]
		}
		return n
	}
	var adm []string
	for _, l := range labels {
		t.Rows = append(t.Rows, countRow(l, r, true, func(m Month) int { return count(m, byLabel[l]) }))
		if admitted(l) {
			adm = append(adm, byLabel[l]...)
		}
	}
	var all []string
	for _, os := range byLabel {
		all = append(all, os...)
	}
	t.Rows = append(t.Rows, countRow("Grand Total", r, false, func(m Month) int { return count(m, all) }))
	t.Rows = append(t.Rows, rateRow("Conversion Rate", r,
		func(m Month) int { return count(m, adm) }, func(m Month) int { return count(m, all) }))
	return t
}

// rateRow shows part/whole per month and over the range, as a percentage to
// one decimal place, halves to even ("-" where nothing was counted).
func rateRow(label string, r Range, part, whole func(Month) int) Row {
	row := Row{Label: label}
	var pt, wt int
	cell := func(a, b int) {
		if b == 0 {
			row.Cells = append(row.Cells, "-")
			row.Values = append(row.Values, nil)
			return
		}
		// Tenths of a percent, rounded in integers, half to even as the
		// partnership's tables are (9 of 80, 11.25%, is 11.2), so the cell
		// and its value always agree.
		tenths, rem := 1000*a/b, 1000*a%b
		if 2*rem > b || (2*rem == b && tenths%2 == 1) {
			tenths++
		}
		row.Cells = append(row.Cells, fmt.Sprintf("%d.%d%%", tenths/10, tenths%10))
		row.Values = append(row.Values, num(float64(tenths)/10))
	}
	for _, m := range r.Months() {
		a, b := part(m), whole(m)
		pt, wt = pt+a, wt+b
		cell(a, b)
	}
	cell(pt, wt)
	return row
}

func (p *Projection) triageTable(r Range) Table {
	return Table{Name: "triage", Title: "Street triage referrals and s136 avoided",
		Caption: "Street triage referrals (street_triage.dispatched) and the s136 detentions they avoided (street_triage.outcome with s136Avoided), by the month the event happened (Europe/London).",
		Corner:  "Street Triage referrals", Columns: columns(r, "Grand Total"), Unit: "count",
		Rows: []Row{
			countRow("Total Referrals", r, true, func(m Month) int { return p.referrals[m] }),
			countRow("Total S136 Avoided", r, true, func(m Month) int { return p.avoided[m] }),
			rateRow("S136 Avoided Rate", r, func(m Month) int { return p.avoided[m] }, func(m Month) int { return p.referrals[m] }),
		}}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// Hours formats a duration as h:mm.
func Hours(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	return fmt.Sprintf("%d:%02d", m/60, m%60)
}

func (p *Projection) detentionTable(r Range) Table {
	asOf := r.AsOf
	if asOf.IsZero() {
		asOf = time.Now()
	}
	open := p.openBreaches(asOf)
	t := Table{Name: "detention", Title: "Length of s136 detention",
		Caption: "Detentions by the month they ended (Europe/London): from arrival at the first place of safety, or the decision to keep the person where they were, to the assessment's completion or release. Durations in hours:minutes (nearest-rank percentiles). A person detained again in one episode is a second detention. Extensions by the month granted, lawful ones only (once, while the period ran; at a police station with a superintendent's approval); a 24h breach is counted once per detention, from the facts alone, when the detention outlasted 24 hours plus its lawful extension (or, not recorded as ended, its period ran out before the report was run), in the month the period ran out.",
		Corner:  "Measure", Columns: columns(r, "All"), Unit: "hours"}
	var all []time.Duration
	stat := func(label string, chart bool, f func([]time.Duration) time.Duration) Row {
		row := Row{Label: label, Chart: chart}
		add := func(ds []time.Duration) {
			if len(ds) == 0 {
				row.Cells = append(row.Cells, "-")
				row.Values = append(row.Values, nil)
				return
			}
			d := f(ds)
			row.Cells = append(row.Cells, Hours(d))
			row.Values = append(row.Values, num(math.Round(d.Hours()*100)/100))
		}
		for _, m := range r.Months() {
			add(sortedDurations(p.detention[m]))
		}
		add(all)
		return row
	}
	for _, m := range r.Months() {
		all = append(all, sortedDurations(p.detention[m])...)
	}
	slices.Sort(all)
	ended := countRow("Detentions ended", r, false, func(m Month) int {
		if d := p.detention[m]; d != nil {
			return len(d.durations)
		}
		return 0
	})
	t.Rows = []Row{
		ended,
		stat("Median duration", true, func(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }),
		stat("90th percentile", true, func(ds []time.Duration) time.Duration { return percentile(ds, 0.9) }),
		stat("Longest", false, func(ds []time.Duration) time.Duration { return ds[len(ds)-1] }),
		countRow("Extensions", r, false, func(m Month) int {
			if d := p.detention[m]; d != nil {
				return d.extensions
			}
			return 0
		}),
		countRow("24h breaches", r, false, func(m Month) int {
			n := open[m]
			if d := p.detention[m]; d != nil {
				n += d.breaches
			}
			return n
		}),
	}
	return t
}

func sortedDurations(d *detentionMonth) []time.Duration {
	if d == nil {
		return nil
	}
	if !slices.IsSorted(d.durations) {
		slices.Sort(d.durations)
	}
	return d.durations
}

// CauseLabel is the row label of a delay cause (seed 003 §5.1).
func CauseLabel(cause string) string {
	switch cause {
	case "amhp_availability":
		return "AMHP availability"
	case "s12_doctor_availability":
		return "s12 doctor availability"
	case "intoxication":
		return "Intoxication"
	case "no_bed":
		return "No bed"
	case "interpreter":
		return "Interpreter"
	case "other":
		return "Other"
	}
	return cause
}

func (p *Projection) delaysTable(r Range) Table {
	t := Table{Name: "delays", Title: "Assessment delays by cause",
		Caption: "Delays recorded by the AMHP service (assessment.delayed), by cause and the month recorded (Europe/London).",
		Corner:  "Cause", Columns: columns(r, "Grand Total"), Unit: "count"}
	causes := keysInRange(p.delays, r)
	sort.Slice(causes, func(i, j int) bool { return CauseLabel(causes[i]) < CauseLabel(causes[j]) })
	for _, c := range causes {
		t.Rows = append(t.Rows, countRow(CauseLabel(c), r, true, func(m Month) int { return p.delays[m][c] }))
	}
	t.Rows = append(t.Rows, countRow("Grand Total", r, false, func(m Month) int {
		n := 0
		for _, v := range p.delays[m] {
			n += v
		}
		return n
	}))
	return t
}

func (p *Projection) followupTable(r Range) Table {
	col := func(i int) func(Month) int {
		return func(m Month) int {
			if f := p.followup[m]; f != nil {
				return f[i]
			}
			return 0
		}
	}
	return Table{Name: "followup", Title: "Helpline follow-up after s136",
		Caption: "Follow-up referrals to the helpline (handoff.offered, kind followup); people reached (first call answered), follow-ups completed and escalations to SPoA, once per episode, by the month they happened (Europe/London).",
		Corner:  "Follow-up", Columns: columns(r, "Grand Total"), Unit: "count",
		Rows: []Row{
			countRow("Referred", r, true, col(fuReferred)),
			countRow("Contacted", r, true, col(fuContacted)),
			countRow("Completed", r, true, col(fuCompleted)),
			countRow("Escalated", r, true, col(fuEscalated)),
		}}
}

// ForbiddenPlaceLabel is the places report's row of arrivals the Act forbids.
const ForbiddenPlaceLabel = "Held where the Act forbids (s136A)"

// PlaceLabel is the row label of a place of safety type.
func PlaceLabel(t events.PlaceType) string {
	switch t {
	case events.HealthBasedPlaceOfSafety:
		return "Health-based place of safety"
	case events.EmergencyDepartment:
		return "Emergency department"
	case events.PoliceStation:
		return "Police station"
	case events.KeptWhereTheyAre:
		return "Kept where they were"
	case "other":
		return "Other"
	}
	return string(t)
}

func (p *Projection) placesTable(r Range) Table {
	t := Table{Name: "places", Title: "Places of safety used",
		Caption: "Arrivals at a place of safety by type and the month of arrival (Europe/London); police stations are always shown; under-18s by the age recorded at detention (a police station is never a place of safety for them, s136A). Then the arrivals the Act forbids (s136A: an under-18 at a police station, an adult there without every recorded condition): a command refuses them, so each was published directly, and the episode record raises an alert for it. The last rows count police-station arrivals by the reason recorded (no health-based place free, or violence it cannot manage; seed 003, 4.15: police cells were used mostly for want of capacity).",
		Corner:  "Place of safety", Columns: columns(r, "Grand Total"), Unit: "count"}
	types := keysInRange(p.places, r)
	if !slices.Contains(types, events.PoliceStation) {
		types = append(types, events.PoliceStation)
	}
	sort.Slice(types, func(i, j int) bool { return PlaceLabel(types[i]) < PlaceLabel(types[j]) })
	for _, pt := range types {
		t.Rows = append(t.Rows, countRow(PlaceLabel(pt), r, true, func(m Month) int { return p.places[m][pt] }))
	}
	t.Rows = append(t.Rows,
		countRow("Grand Total", r, false, func(m Month) int {
			n := 0
			for _, v := range p.places[m] {
				n += v
			}
			return n
		}),
		countRow("Under 18", r, false, func(m Month) int { return p.under18[m] }),
		countRow("Under 18 at a police station", r, false, func(m Month) int { return p.u18Police[m] }),
		countRow(ForbiddenPlaceLabel, r, false, func(m Month) int { return p.forbidden[m] }),
	)
	for _, reason := range append(slices.Clone(events.PoliceStationReasons), "") {
		t.Rows = append(t.Rows, countRow(CellReasonLabel(reason), r, false, func(m Month) int { return p.cells[m][reason] }))
	}
	return t
}

// CellReasonLabel is the places report's row of police-station arrivals
// with that recorded reason ("": none recorded).
func CellReasonLabel(reason string) string {
	switch reason {
	case events.NoHealthBasedPlaceFree:
		return "Police station because no health-based place was free"
	case events.ViolenceCannotBeManaged:
		return "Police station because of violence a health-based place cannot manage"
	case "":
		return "Police station with no reason recorded"
	}
	return "Police station because " + reason
}

// havenMeasures are the safe haven report's rows for each haven, in order:
// how people came (seed 002's monthly counts), then how visits ended.
var havenMeasures = []struct{ what, label string }{
	{"walked_in", "walked in"}, {"brought_by_police", "brought by police"}, {"referred", "referred"},
	{havenNotTaken, "not taken in (not for their age)"},
	{"went_home", "went home"}, {"handed_on", "handed on"}, {"emergency_999", "999 called"},
}

// HavenLabel names a safe haven by the directory of places (its id when
// the directory does not have it).
func HavenLabel(id string) string {
	if d, err := places.Default(); err == nil {
		if h, ok := d.Place(id); ok {
			return h.Name + " (" + h.Town + ")"
		}
	}
	return id
}

func (p *Projection) havensTable(r Range) Table {
	t := Table{Name: "havens", Title: "Safe haven visits",
		Caption: "Safe haven visits by haven and month (Europe/London): people who walked in, were brought by police or were referred (haven.arrived, in the month of arrival), those not taken in because the haven is not for their age, and how visits ended (haven.left, in the month they left): went home, handed on to another service, or 999.",
		Corner:  "Safe haven", Columns: columns(r, "Grand Total"), Unit: "count"}
	var havens []string
	for _, m := range r.Months() {
		for c := range p.havens[m] {
			if !slices.Contains(havens, c.haven) {
				havens = append(havens, c.haven)
			}
		}
	}
	sort.Slice(havens, func(i, j int) bool { return HavenLabel(havens[i]) < HavenLabel(havens[j]) })
	for _, h := range havens {
		for _, ms := range havenMeasures {
			t.Rows = append(t.Rows, countRow(HavenLabel(h)+": "+ms.label, r, true, func(m Month) int { return p.havens[m][havenCount{h, ms.what}] }))
		}
	}
	arrived := func(m Month) int {
		n := 0
		for c, v := range p.havens[m] {
			if slices.ContainsFunc(havenMeasures[:4], func(x struct{ what, label string }) bool { return x.what == c.what }) {
				n += v
			}
		}
		return n
	}
	t.Rows = append(t.Rows, countRow("All havens: arrivals", r, false, arrived))
	return t
}

// ContactRowLabels are the contacts report's rows, in the order of
// precedence an episode's row is chosen by.
var ContactRowLabels = [contactRows]string{
	contactDetained: "Detained under s136",
	contactHaven:    "Taken to a safe haven, no s136",
	contactTriage:   "Street triage advised, s136 avoided",
	contactOther:    "Other",
}

// ContactsInsteadLabel is the contacts report's share of contacts that
// ended at a safe haven or with street triage instead of an s136.
const ContactsInsteadLabel = "Safe haven or street triage instead of s136"

func (p *Projection) contactsTable(r Range) Table {
	t := Table{Name: "contacts", Title: "Police contacts: safe haven or street triage instead of s136",
		Caption: "Police contacts (episodes opened by police: episode.opened published by police), each counted once, in one row, in the month the contact began (its earliest police episode.opened, Europe/London), by how it ended, the first row its facts allow: detained under s136 if the episode has any s136.detained, before or after anything else (a person taken to a haven and later detained counts as detained, not as ended at the haven); else taken to a safe haven if a haven took in the person brought by police (haven.arrived, brought_by_police) or accepted a police safe_haven_referral (handoff.accepted); else street triage advised and s136 avoided if a street_triage.outcome recorded s136Avoided; else other (including contacts still going on). A contact's row moves when a later event changes how it ended. The last row is the share that ended at a haven or with street triage.",
		Corner:  "How the police contact ended", Columns: columns(r, "Grand Total"), Unit: "count"}
	col := func(i int) func(Month) int {
		return func(m Month) int {
			if c := p.contacts[m]; c != nil {
				return c[i]
			}
			return 0
		}
	}
	all := func(m Month) int {
		n := 0
		if c := p.contacts[m]; c != nil {
			for _, v := range c {
				n += v
			}
		}
		return n
	}
	for i, label := range ContactRowLabels {
		t.Rows = append(t.Rows, countRow(label, r, true, col(i)))
	}
	t.Rows = append(t.Rows, countRow("Grand Total", r, false, all),
		rateRow(ContactsInsteadLabel, r, func(m Month) int { return col(contactHaven)(m) + col(contactTriage)(m) }, all))
	return t
}
