package reports_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/reports"
	"github.com/crisisbus/crisisbus/services/reports/reportgen"
)

// expected is what the reports must show, tallied as the events are made.
type expected struct {
	s136               map[reports.Month]map[string]int // by row label
	referrals, avoided map[reports.Month]int
	durations          map[reports.Month][]time.Duration
	extensions         map[reports.Month]int
	breaches           map[reports.Month]int
	delays             map[reports.Month]map[string]int // by cause label
	followup           map[reports.Month]*[4]int        // referred, contacted, completed, escalated
	places             map[reports.Month]map[string]int // by place label
	cells              map[reports.Month]map[string]int // police-station arrivals by reason label
	under18, u18Police map[reports.Month]int
	contacts           map[reports.Month]map[string]int // police contacts by how they ended (reportgen.ContactEnds)
}

func newExpected() *expected {
	return &expected{
		s136: map[reports.Month]map[string]int{}, referrals: map[reports.Month]int{}, avoided: map[reports.Month]int{},
		durations: map[reports.Month][]time.Duration{}, extensions: map[reports.Month]int{}, breaches: map[reports.Month]int{},
		delays: map[reports.Month]map[string]int{}, followup: map[reports.Month]*[4]int{},
		places: map[reports.Month]map[string]int{}, under18: map[reports.Month]int{}, u18Police: map[reports.Month]int{},
		cells: map[reports.Month]map[string]int{}, contacts: map[reports.Month]map[string]int{},
	}
}

func add(m map[reports.Month]map[string]int, month reports.Month, k string) {
	if m[month] == nil {
		m[month] = map[string]int{}
	}
	m[month][k]++
}

func (x *expected) fu(m reports.Month) *[4]int {
	if x.followup[m] == nil {
		x.followup[m] = &[4]int{}
	}
	return x.followup[m]
}

// detention tallies what one detention contributes, by when each thing happened.
func (x *expected) detention(d reportgen.Detention) {
	add(x.s136, reports.MonthOf(d.Completed), reports.OutcomeLabel(d.Outcome))
	x.durations[reports.MonthOf(d.Completed)] = append(x.durations[reports.MonthOf(d.Completed)], d.Duration)
	arrived := reports.MonthOf(d.Arrived())
	add(x.places, arrived, reports.PlaceLabel(d.Place))
	if d.Age < 18 {
		x.under18[arrived]++
		if d.Place == events.PoliceStation {
			x.u18Police[arrived]++
		}
	}
	if d.Place == events.PoliceStation {
		add(x.cells, arrived, reports.CellReasonLabel(d.CellReason()))
	}
	if d.Delay != "" {
		add(x.delays, reports.MonthOf(d.DelayedAt()), reports.CauseLabel(d.Delay))
	}
	permitted := 24 * time.Hour
	if d.Extension > 0 {
		x.extensions[reports.MonthOf(d.ExtendedAt())]++
		permitted += time.Duration(d.Extension) * time.Hour
	}
	if d.Duration > permitted {
		x.breaches[reports.MonthOf(d.Arrived().Add(permitted))]++
	}
	if d.Outcome == "not_admitted" {
		x.fu(reports.MonthOf(d.ReferredAt()))[0]++
		x.fu(reports.MonthOf(d.ContactedAt()))[1]++
	}
}

// scenario makes random counts over rng (and the months either side, which
// the reports must leave out) and returns the events and what they add up to.
func scenario(t *testing.T, seed uint64, rng reports.Range) ([]events.Event, *expected) {
	t.Helper()
	g := reportgen.New(seed)
	r := g.Rand()
	x := newExpected()
	var evs []events.Event
	// Sometimes nobody is admitted informally in the whole period: the
	// table then has no such row.
	outcomes := reportgen.Outcomes
	if r.IntN(3) == 0 {
		outcomes = []string{"detained_s2", "detained_s3", "not_admitted"}
	}
	for m := rng.From - 1; m <= rng.To+1; m++ {
		for _, o := range outcomes {
			for range r.IntN(9) {
				d := g.RandomDetention(g.InMonth(m), o)
				x.detention(d)
				dev := g.Detention(d)
				evs = append(evs, dev...)
				if d.Duration > 24*time.Hour+time.Duration(d.Extension)*time.Hour && r.IntN(2) == 0 {
					// The clock service saw the breach too, and repeated it:
					// still one breach.
					due := d.Arrived().Add(24*time.Hour + time.Duration(d.Extension)*time.Hour).UTC()
					for rep := range 2 {
						e, err := events.New(events.Clock, dev[0].Subject, events.ClockBreached{Clock: events.S136Clock, Ref: dev[0].Subject, Owner: events.AMHP,
							DueAt: due, SecondsOver: 60 + rep*900, Repeat: rep}, events.At(due.Add(time.Duration(rep)*15*time.Minute)))
						if err != nil {
							t.Fatal(err)
						}
						evs = append(evs, e)
					}
				}
			}
		}
		refs := r.IntN(30)
		for i := range refs {
			at := g.InMonth(m)
			avoided := i < refs/3
			evs = append(evs, g.StreetTriage(at, avoided)...)
			x.referrals[reports.MonthOf(at)]++
			if avoided {
				x.avoided[reports.MonthOf(at)]++
			}
		}
		for range r.IntN(20) {
			at, end := g.InMonth(m), reportgen.ContactEnds[r.IntN(len(reportgen.ContactEnds))]
			cev, avoided := g.Contact(at, end)
			evs = append(evs, cev...)
			add(x.contacts, reports.MonthOf(at), end)
			if avoided {
				x.avoided[reports.MonthOf(at)]++
			}
		}
	}
	if g.Err() != nil {
		t.Fatal(g.Err())
	}
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	return evs, x
}

func publish(t *testing.T, bus *natsbus.Bus, evs []events.Event) {
	t.Helper()
	for len(evs) > 0 {
		n := min(len(evs), 500)
		for i, res := range bus.PublishBatch(context.Background(), evs[:n]) {
			if res.Err != nil || res.Ack.Duplicate {
				t.Fatalf("publish %s: %v (duplicate %v)", evs[i].Type, res.Err, res.Ack.Duplicate)
			}
		}
		evs = evs[n:]
	}
}

func adminBus(t testing.TB, b *broker.Broker) *natsbus.Bus {
	bus, err := natsbus.NewBus(bustest.Conn(t, b, ""), "", bustest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

// cells formats a row of counts and its total, as a person reads them.
func cells(rng reports.Range, f func(reports.Month) int) []string {
	var out []string
	total := 0
	for _, m := range rng.Months() {
		out = append(out, fmt.Sprint(f(m)))
		total += f(m)
	}
	return append(out, fmt.Sprint(total))
}

func rate(rng reports.Range, part, whole func(reports.Month) int) []string {
	var out []string
	var pt, wt int
	f := func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
	}
	for _, m := range rng.Months() {
		out = append(out, f(part(m), whole(m)))
		pt, wt = pt+part(m), wt+whole(m)
	}
	return append(out, f(pt, wt))
}

type wantRow struct {
	label string
	cells []string
}

func checkTable(t *testing.T, p *reports.Projection, name string, rng reports.Range, want []wantRow) {
	t.Helper()
	tab, err := p.Report(name, rng)
	if err != nil {
		t.Fatal(err)
	}
	var got, exp strings.Builder
	for _, r := range tab.Rows {
		fmt.Fprintf(&got, "%s: %s\n", r.Label, strings.Join(r.Cells, " "))
	}
	for _, r := range want {
		fmt.Fprintf(&exp, "%s: %s\n", r.label, strings.Join(r.cells, " "))
	}
	if got.String() != exp.String() {
		t.Errorf("%s report %s..%s:\n%s\nwant:\n%s", name, rng.From, rng.To, got.String(), exp.String())
	}
}

func text(t reports.Table) string {
	var b strings.Builder
	reports.Write(&b, t, "csv")
	return b.String()
}

func hm(d time.Duration) string {
	return fmt.Sprintf("%d:%02d", int(d.Minutes())/60, int(d.Minutes())%60)
}

// checkAll compares every report with the tally.
func checkAll(t *testing.T, p *reports.Projection, rng reports.Range, x *expected) {
	t.Helper()
	// s136: rows are the outcomes found in the period, alphabetically.
	var labels []string
	for _, m := range rng.Months() {
		for l := range x.s136[m] {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
	}
	slices.Sort(labels)
	var rows []wantRow
	count := func(m reports.Month, adm bool) int {
		n := 0
		for l, c := range x.s136[m] {
			if !adm || strings.HasPrefix(l, "Admitted ") {
				n += c
			}
		}
		return n
	}
	for _, l := range labels {
		rows = append(rows, wantRow{l, cells(rng, func(m reports.Month) int { return x.s136[m][l] })})
	}
	rows = append(rows,
		wantRow{"Grand Total", cells(rng, func(m reports.Month) int { return count(m, false) })},
		wantRow{"Conversion Rate", rate(rng, func(m reports.Month) int { return count(m, true) }, func(m reports.Month) int { return count(m, false) })})
	checkTable(t, p, "s136", rng, rows)

	checkTable(t, p, "triage", rng, []wantRow{
		{"Total Referrals", cells(rng, func(m reports.Month) int { return x.referrals[m] })},
		{"Total S136 Avoided", cells(rng, func(m reports.Month) int { return x.avoided[m] })},
		{"S136 Avoided Rate", rate(rng, func(m reports.Month) int { return x.avoided[m] }, func(m reports.Month) int { return x.referrals[m] })},
	})

	// Detention: nearest-rank median and 90th percentile.
	stat := func(q float64) []string {
		var out []string
		var all []time.Duration
		f := func(ds []time.Duration) string {
			if len(ds) == 0 {
				return "-"
			}
			ds = slices.Sorted(slices.Values(ds))
			if q == 1 {
				return hm(ds[len(ds)-1])
			}
			return hm(ds[int(math.Ceil(q*float64(len(ds))))-1])
		}
		for _, m := range rng.Months() {
			out = append(out, f(x.durations[m]))
			all = append(all, x.durations[m]...)
		}
		return append(out, f(all))
	}
	checkTable(t, p, "detention", rng, []wantRow{
		{"Detentions ended", cells(rng, func(m reports.Month) int { return len(x.durations[m]) })},
		{"Median duration", stat(0.5)},
		{"90th percentile", stat(0.9)},
		{"Longest", stat(1)},
		{"Extensions", cells(rng, func(m reports.Month) int { return x.extensions[m] })},
		{"24h breaches", cells(rng, func(m reports.Month) int { return x.breaches[m] })},
	})

	keyed := func(m map[reports.Month]map[string]int, always ...string) []wantRow {
		keys := slices.Clone(always)
		for _, month := range rng.Months() {
			for k, n := range m[month] {
				if n > 0 && !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		slices.Sort(keys)
		var rows []wantRow
		for _, k := range keys {
			rows = append(rows, wantRow{k, cells(rng, func(mo reports.Month) int { return m[mo][k] })})
		}
		return append(rows, wantRow{"Grand Total", cells(rng, func(mo reports.Month) int {
			n := 0
			for _, c := range m[mo] {
				n += c
			}
			return n
		})})
	}
	checkTable(t, p, "delays", rng, keyed(x.delays))
	checkTable(t, p, "places", rng, append(keyed(x.places, "Police station"),
		wantRow{"Under 18", cells(rng, func(m reports.Month) int { return x.under18[m] })},
		wantRow{"Under 18 at a police station", cells(rng, func(m reports.Month) int { return x.u18Police[m] })},
		// Adults at a police station have every condition recorded in the
		// generated data, so the arrivals the Act forbids are the under-18s there.
		wantRow{reports.ForbiddenPlaceLabel, cells(rng, func(m reports.Month) int { return x.u18Police[m] })},
		wantRow{reports.CellReasonLabel(events.NoHealthBasedPlaceFree), cells(rng, func(m reports.Month) int { return x.cells[m][reports.CellReasonLabel(events.NoHealthBasedPlaceFree)] })},
		wantRow{reports.CellReasonLabel(events.ViolenceCannotBeManaged), cells(rng, func(m reports.Month) int { return x.cells[m][reports.CellReasonLabel(events.ViolenceCannotBeManaged)] })},
		wantRow{reports.CellReasonLabel(""), cells(rng, func(m reports.Month) int { return x.cells[m][reports.CellReasonLabel("")] })}))
	fu := func(i int) []string {
		return cells(rng, func(m reports.Month) int {
			if f := x.followup[m]; f != nil {
				return f[i]
			}
			return 0
		})
	}
	checkTable(t, p, "followup", rng, []wantRow{{"Referred", fu(0)}, {"Contacted", fu(1)}, {"Completed", fu(2)}, {"Escalated", fu(3)}})

	// Police contacts: one row per end, in the report's order.
	var contacts []wantRow
	for i, end := range reportgen.ContactEnds {
		contacts = append(contacts, wantRow{reports.ContactRowLabels[i], cells(rng, func(m reports.Month) int { return x.contacts[m][end] })})
	}
	all := func(m reports.Month) int {
		n := 0
		for _, c := range x.contacts[m] {
			n += c
		}
		return n
	}
	checkTable(t, p, "contacts", rng, append(contacts, wantRow{"Grand Total", cells(rng, all)},
		wantRow{reports.ContactsInsteadLabel, rate(rng, func(m reports.Month) int {
			return x.contacts[m][reportgen.ContactHaven] + x.contacts[m][reportgen.ContactTriage]
		}, all)}))
}

// Random counts of assessments, outcomes, street triage, delays, places and
// long detentions over a random period (often across a change between GMT
// and BST) come out of the reports exactly, and the months either side are
// left out.
func TestReportsMatchRandomlyGeneratedCounts(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := reportgen.New(seed)
	from := reports.MonthFor(2014+g.Rand().IntN(10), time.Month(1+g.Rand().IntN(12)))
	rng := reports.Range{From: from, To: from + reports.Month(2+g.Rand().IntN(6))}
	evs, x := scenario(t, seed, rng)

	b := bustest.Start(t, "")
	publish(t, adminBus(t, b), evs)
	p, err := reports.Rebuild(context.Background(), adminBus(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if p.Applied() != countedIn(evs) || len(p.Skipped()) != 0 {
		t.Fatalf("applied %d of %d events, skipped %v", p.Applied(), countedIn(evs), p.Skipped())
	}
	checkAll(t, p, rng, x)
}

// countedIn is how many of evs are of the types the reports count (the
// clock's events are not: breaches are counted from the facts).
func countedIn(evs []events.Event) int {
	n := 0
	for _, e := range evs {
		for _, name := range reports.Types {
			if e.Type == events.TypePrefix+name+".v1" {
				n++
			}
		}
	}
	return n
}

// The report page's projection follows the stream as agencies publish, and
// a fresh replay of the stream gives the same tables: the report is the
// stream, kept up to date, never a second record.
func TestLiveReportsFollowTheStreamAndEqualAReplay(t *testing.T) {
	b := bustest.Start(t, "")
	rng := reports.Range{From: reports.MonthFor(2016, time.January), To: reports.MonthFor(2016, time.June)}
	first, x1 := scenario(t, 1, rng)
	bus := adminBus(t, b)
	publish(t, bus, first[:len(first)/2])

	svc := reports.Start(context.Background(), adminBus(t, b), bustest.Logger())
	t.Cleanup(svc.Stop)
	publish(t, bus, first[len(first)/2:])
	counted := countedIn(first)
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := svc.Projection().Applied(); n != counted {
			return fmt.Errorf("live projection has %d of %d events", n, counted)
		}
		return nil
	})
	checkAll(t, svc.Projection(), rng, x1)

	// Replaying over what it has already counted changes nothing.
	replayed, err := reports.Rebuild(context.Background(), bus)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range reports.Names {
		live, _ := svc.Projection().Report(n, rng)
		re, _ := replayed.Report(n, rng)
		if text(live) != text(re) {
			t.Errorf("%s: live and replayed reports differ:\n%s\n%s", n, text(live), text(re))
		}
	}
	before := svc.Projection().Applied()
	bus.ReplayRaw(context.Background(), natsbus.ReplayConfig{}, func(s natsbus.Stored) error {
		svc.Projection().Apply(s)
		return nil
	})
	if after := svc.Projection().Applied(); after != before {
		t.Fatalf("applying the stream again counted %d more events", after-before)
	}
}

// On a terminal the table reads like the partnership's: labels on the left,
// figures right-aligned under their month.
func TestTableFormatAlignsLabelsLeftAndFiguresRight(t *testing.T) {
	tab := reports.Table{Title: "Street triage referrals and s136 avoided", Caption: "By month.", Corner: "Street Triage referrals",
		Columns: []string{"2015-12", "2016-01", "Grand Total"},
		Rows:    []reports.Row{{Label: "Total Referrals", Cells: []string{"27", "48", "75"}}, {Label: "Total S136 Avoided", Cells: []string{"7", "4", "11"}}}}
	var b strings.Builder
	if err := reports.Write(&b, tab, "table"); err != nil {
		t.Fatal(err)
	}
	want := "Street triage referrals and s136 avoided\n\n" +
		"Street Triage referrals  2015-12  2016-01  Grand Total\n" +
		"Total Referrals               27       48           75\n" +
		"Total S136 Avoided             7        4           11\n" +
		"\nBy month.\n"
	if b.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if err := reports.Write(&b, tab, "xml"); err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Fatalf("unknown format: %v", err)
	}
}

// A 24-hour breach is counted from the facts alone: a detention still not
// recorded as ended counts once its period has run out by the time the
// report is run, and a clock.breached event (from a clock that was wrong,
// or absent) changes nothing.
func TestBreachesAreCountedFromTheFactsAloneWithOrWithoutAClock(t *testing.T) {
	arrived := time.Date(2026, 11, 10, 22, 0, 0, 0, time.UTC)
	ongoing, inTime := events.NewEpisodeID(), events.NewEpisodeID()
	var evs []events.Event
	add := func(source events.Agency, ep string, at time.Time, data any) {
		e, err := events.New(source, ep, data, events.At(at))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	for _, ep := range []string{ongoing, inTime} {
		add(events.Police, ep, arrived.Add(-time.Hour), events.S136Detained{DetainedAt: arrived.Add(-time.Hour), LocationType: "public_place", AgeYears: 40, Consulted: true})
		add(events.Police, ep, arrived, events.PlaceOfSafetyArrived{ArrivedAt: arrived, PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite"})
	}
	add(events.AMHP, inTime, arrived.Add(20*time.Hour), events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: arrived.Add(20 * time.Hour)})
	withClock := append(slices.Clone(evs), func() events.Event {
		e, err := events.New(events.Clock, inTime, events.ClockBreached{Clock: events.S136Clock, Ref: inTime, Owner: events.AMHP,
			DueAt: arrived.Add(24 * time.Hour), SecondsOver: 60}, events.At(arrived.Add(24*time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}())

	breaches := func(evs []events.Event, asOf time.Time) string {
		return detentionCell(t, evs, "24h breaches", asOf)
	}
	for _, c := range []struct {
		name  string
		evs   []events.Event
		asOf  time.Time
		count string
	}{
		{"run 23 hours after arrival: the ongoing detention is within its period", evs, arrived.Add(23 * time.Hour), "0"},
		{"run 25 hours after arrival: the ongoing detention ran out of its period", evs, arrived.Add(25 * time.Hour), "1"},
		{"the same with a clock that wrongly breached the one assessed in time", withClock, arrived.Add(25 * time.Hour), "1"},
	} {
		if got := breaches(c.evs, c.asOf); got != c.count {
			t.Errorf("%s: %s breaches, want %s", c.name, got, c.count)
		}
	}
}

// A visit's end counts under the haven its person arrived at, whichever of
// the two is applied first (a rebuild applies ranges of the stream side by
// side).
func TestSafeHavenVisitsCountTheSameInAnyOrder(t *testing.T) {
	nov := reports.MonthFor(2026, time.November)
	at := time.Date(2026, 11, 20, 21, 0, 0, 0, time.UTC)
	var evs []events.Event
	add := func(ep string, data any) {
		e, err := events.New(events.SafeHaven, ep, data, events.At(at))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	a, b := events.NewEpisodeID(), events.NewEpisodeID()
	add(a, events.HavenArrived{How: "brought_by_police", Haven: "haven-margate", ArrivedAt: at, Taken: true})
	add(a, events.HavenLeft{Outcome: "went_home", LeftAt: at.Add(time.Hour)})
	add(b, events.HavenArrived{How: "walked_in", Haven: "haven-canterbury", ArrivedAt: at, Taken: true})
	add(b, events.HavenLeft{Outcome: "emergency_999", LeftAt: at.Add(time.Hour)})
	table := func(order []events.Event) string {
		p := reports.NewProjection()
		for i, e := range order {
			raw, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			subj, _ := events.Subject(e)
			p.Apply(natsbus.Stored{Seq: uint64(i + 1), Subject: subj, Raw: raw})
		}
		tab, err := p.Report("havens", reports.Range{From: nov, To: nov})
		if err != nil {
			t.Fatal(err)
		}
		return text(tab)
	}
	forward := table(evs)
	for _, want := range []string{"Thanet Safe Haven (Margate): brought by police,1,1", "Thanet Safe Haven (Margate): went home,1,1",
		"Canterbury Safe Haven (Canterbury): walked in,1,1", "Canterbury Safe Haven (Canterbury): 999 called,1,1", "All havens: arrivals,2,2"} {
		if !strings.Contains(forward, want) {
			t.Errorf("the safe haven report lacks %q:\n%s", want, forward)
		}
	}
	reversed := slices.Clone(evs)
	slices.Reverse(reversed)
	if backward := table(reversed); backward != forward {
		t.Errorf("applied ends first, the report reads\n%s\nwant\n%s", backward, forward)
	}
}

// A detention extends as the clock reads the law (s136B): once, while the
// period runs. An extension made after the period expired, or a second
// one, published straight to the bus or imported, neither counts in the
// month's extensions nor moves the breach; in any order of the facts.
func TestOnlyALawfulExtensionExtendsTheDetentionAndIsCounted(t *testing.T) {
	arrived := time.Date(2026, 11, 10, 22, 0, 0, 0, time.UTC)
	detention := func(ep string, exts []time.Duration, end time.Duration) []events.Event {
		var evs []events.Event
		add := func(source events.Agency, at time.Time, data any) {
			e, err := events.New(source, ep, data, events.At(at))
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
		add(events.Police, arrived.Add(-time.Hour), events.S136Detained{DetainedAt: arrived.Add(-time.Hour), LocationType: "public_place", AgeYears: 40, Consulted: true})
		add(events.Police, arrived, events.PlaceOfSafetyArrived{ArrivedAt: arrived, PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite"})
		for _, x := range exts {
			add(events.AMHP, arrived.Add(x), events.S136Extended{Hours: 12, Doctor: "Dr Rao", Reason: "intoxicated", ExtendedAt: arrived.Add(x)})
		}
		add(events.AMHP, arrived.Add(end), events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: arrived.Add(end)})
		return evs
	}
	row := func(evs []events.Event, label string) string {
		return detentionCell(t, evs, label, arrived.Add(72*time.Hour))
	}
	for _, c := range []struct {
		name                 string
		exts                 []time.Duration
		end                  time.Duration
		extensions, breaches string
	}{
		{"one extension at 20h, assessed at 30h", []time.Duration{20 * time.Hour}, 30 * time.Hour, "1", "0"},
		{"a second extension at 30h, assessed at 40h", []time.Duration{20 * time.Hour, 30 * time.Hour}, 40 * time.Hour, "1", "1"},
		{"an extension after the period expired, at 25h, assessed at 30h", []time.Duration{25 * time.Hour}, 30 * time.Hour, "0", "1"},
	} {
		evs := detention(events.NewEpisodeID(), c.exts, c.end)
		reversed := slices.Clone(evs)
		slices.Reverse(reversed)
		for _, order := range [][]events.Event{evs, reversed} {
			if got, b := row(order, "Extensions"), row(order, "24h breaches"); got != c.extensions || b != c.breaches {
				t.Errorf("%s: %s extensions and %s breaches, want %s and %s", c.name, got, b, c.extensions, c.breaches)
			}
		}
	}
}

// At a police station an extension needs a superintendent's approval
// (s136B): one without it extends nothing, as the clock reads it, and the
// detention assessed at 30 hours is a breach; with it, an extension.
func TestAnExtensionAtAPoliceStationCountsOnlyWithASuperintendentsApproval(t *testing.T) {
	arrived := time.Date(2026, 11, 10, 22, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		approval             string
		extensions, breaches string
	}{{"", "0", "1"}, {"Supt. Hale", "1", "0"}} {
		ep := events.NewEpisodeID()
		evs := []events.Event{
			eventAt(t, events.Police, ep, arrived.Add(-time.Hour), events.S136Detained{DetainedAt: arrived.Add(-time.Hour), LocationType: "public_place", AgeYears: 40, Consulted: true}),
			eventAt(t, events.Police, ep, arrived, events.PlaceOfSafetyArrived{ArrivedAt: arrived, PlaceType: events.PoliceStation, PlaceName: "Maidstone custody",
				PoliceStation: &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true, InspectorAuthorisation: "Insp. Bell", HealthProfessionalConsulted: true}}),
			eventAt(t, events.AMHP, ep, arrived.Add(20*time.Hour), events.S136Extended{Hours: 12, Doctor: "Dr Rao", Reason: "intoxicated",
				SuperintendentApproval: c.approval, ExtendedAt: arrived.Add(20 * time.Hour)}),
			eventAt(t, events.AMHP, ep, arrived.Add(30*time.Hour), events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: arrived.Add(30 * time.Hour)}),
		}
		reversed := slices.Clone(evs)
		slices.Reverse(reversed)
		for _, order := range [][]events.Event{evs, reversed} {
			x, b := detentionCell(t, order, "Extensions", arrived.Add(72*time.Hour)), detentionCell(t, order, "24h breaches", arrived.Add(72*time.Hour))
			if x != c.extensions || b != c.breaches {
				t.Errorf("superintendent's approval %q: %s extensions and %s breaches, want %s and %s", c.approval, x, b, c.extensions, c.breaches)
			}
		}
	}
}

// A person detained under s136, assessed and released, then detained again
// the next day in the same episode, is two detentions: each measured from
// its own arrival to its own end, each judged on its own period. The
// first (10 hours) is no breach; the second, extended by 12 hours on its
// own and assessed at 30 hours, is none either; an unextended third,
// still open past its 24 hours when the report is run, is one.
func TestEachDetentionInAnEpisodeIsCountedOnItsOwn(t *testing.T) {
	first := time.Date(2026, 11, 3, 22, 0, 0, 0, time.UTC)
	second := first.Add(48 * time.Hour)
	third := second.Add(4 * 24 * time.Hour)
	ep := events.NewEpisodeID()
	detained := func(at time.Time) events.Event {
		return eventAt(t, events.Police, ep, at.Add(-time.Hour), events.S136Detained{DetainedAt: at.Add(-time.Hour), LocationType: "public_place", AgeYears: 40, Consulted: true})
	}
	arrived := func(at time.Time) events.Event {
		return eventAt(t, events.Police, ep, at, events.PlaceOfSafetyArrived{ArrivedAt: at, PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "s136 suite"})
	}
	completed := func(at time.Time) events.Event {
		return eventAt(t, events.AMHP, ep, at, events.AssessmentCompleted{Outcome: "not_admitted", CompletedAt: at})
	}
	evs := []events.Event{
		detained(first), arrived(first), completed(first.Add(10 * time.Hour)),
		detained(second), arrived(second),
		eventAt(t, events.AMHP, ep, second.Add(20*time.Hour), events.S136Extended{Hours: 12, Doctor: "Dr Rao", Reason: "intoxicated", ExtendedAt: second.Add(20 * time.Hour)}),
		completed(second.Add(30 * time.Hour)),
		detained(third), arrived(third),
	}
	asOf := third.Add(25 * time.Hour)
	reversed := slices.Clone(evs)
	slices.Reverse(reversed)
	for _, order := range [][]events.Event{evs, reversed} {
		for label, want := range map[string]string{"Detentions ended": "2", "Longest": "30:00", "Extensions": "1", "24h breaches": "1"} {
			if got := detentionCell(t, order, label, asOf); got != want {
				t.Errorf("%s: %s, want %s", label, got, want)
			}
		}
	}
}

// eventAt is an event of source on episode ep, published at at.
func eventAt(t *testing.T, source events.Agency, ep string, at time.Time, data any) events.Event {
	t.Helper()
	e, err := events.New(source, ep, data, events.At(at))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// projectionOf is a new projection with evs applied, in the order given.
func projectionOf(t *testing.T, evs []events.Event) *reports.Projection {
	t.Helper()
	p := reports.NewProjection()
	for i, e := range evs {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		subj, err := events.Subject(e)
		if err != nil {
			t.Fatal(err)
		}
		p.Apply(natsbus.Stored{Seq: uint64(i + 1), Subject: subj, Raw: raw})
	}
	return p
}

// detentionCell is November 2026's figure in the detention table's row
// label, the report run at asOf, of a projection of evs.
func detentionCell(t *testing.T, evs []events.Event, label string, asOf time.Time) string {
	t.Helper()
	nov := reports.MonthFor(2026, time.November)
	tab, err := projectionOf(t, evs).Report("detention", reports.Range{From: nov, To: nov, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Rows {
		if r.Label == label {
			return r.Cells[0]
		}
	}
	t.Fatalf("no %s row", label)
	return ""
}
