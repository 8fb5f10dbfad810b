package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/reports"
)

// The steering group's tables count what the agencies' own services
// publish: one night in November 2026, street triage avoids an s136; one man
// detained under s136 is assessed and not admitted, and the helpline follows
// him up for four days; another is assessed and detained under s2.
func TestReportsCountWhatTheAgencyServicesPublish(t *testing.T) {
	p := start(t)
	open := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 2210", Channel: "101", Summary: "woman crying outside the station, talking about taking her tablets"})
	do[police.DispatchRequest, agency.Receipt](p, events.Police, "street_triage.dispatch", police.DispatchRequest{Base: base(open.Episode, "control-room MH worker Amira"),
		StreetTriageDispatched: events.StreetTriageDispatched{Team: "East Kent street triage: PC and KMPT nurse"}})
	p.clock.Advance(40 * time.Minute)
	do[agency.StreetOutcomeRequest, agency.Receipt](p, events.Police, "street_triage.outcome", agency.StreetOutcomeRequest{Base: base(open.Episode, "PC 2209 Lowe"),
		StreetTriageOutcome: events.StreetTriageOutcome{S136Avoided: true, Outcome: "safe_haven"}})
	s136Pathway(t, p, "not_admitted", func() {})
	s136Pathway(t, p, "detained_s2", func() {})

	proj, err := reports.Rebuild(context.Background(), p.admin)
	if err != nil {
		t.Fatal(err)
	}
	if s := proj.Skipped(); len(s) > 0 {
		t.Fatalf("events not counted: %+v", s)
	}
	nov := reports.MonthFor(2026, time.November)
	want := map[string]string{
		"s136":   "Outcome,2026-11,Grand Total\nAdmitted Sectioned,1,1\nNot Admitted,1,1\nGrand Total,2,2\nConversion Rate,50.0%,50.0%\n",
		"triage": "Street Triage referrals,2026-11,Grand Total\nTotal Referrals,1,1\nTotal S136 Avoided,1,1\nS136 Avoided Rate,100.0%,100.0%\n",
		// Arrival at the Medway s136 suite to the outcome: 2h waiting for the
		// s12 doctor, then 90 minutes.
		"detention": "Measure,2026-11,All\nDetentions ended,2,2\nMedian duration,3:30,3:30\n90th percentile,3:30,3:30\nLongest,3:30,3:30\nExtensions,0,0\n24h breaches,0,0\n",
		"delays":    "Cause,2026-11,Grand Total\ns12 doctor availability,2,2\nGrand Total,2,2\n",
		"followup":  "Follow-up,2026-11,Grand Total\nReferred,1,1\nContacted,1,1\nCompleted,1,1\nEscalated,0,0\n",
		"places":    "Place of safety,2026-11,Grand Total\nHealth-based place of safety,2,2\nPolice station,0,0\nGrand Total,2,2\nUnder 18,0,0\nUnder 18 at a police station,0,0\nHeld where the Act forbids (s136A),0,0\nPolice station because no health-based place was free,0,0\nPolice station because of violence a health-based place cannot manage,0,0\nPolice station with no reason recorded,0,0\n",
		"havens":    "Safe haven,2026-11,Grand Total\nAll havens: arrivals,0,0\n",
		// Three police contacts: street triage avoided an s136 for the woman
		// at the station; both men were detained.
		"contacts": "How the police contact ended,2026-11,Grand Total\nDetained under s136,2,2\n\"Taken to a safe haven, no s136\",0,0\n\"Street triage advised, s136 avoided\",1,1\nOther,0,0\nGrand Total,3,3\nSafe haven or street triage instead of s136,33.3%,33.3%\n",
	}
	for _, name := range reports.Names {
		tab, err := proj.Report(name, reports.Range{From: nov, To: nov})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		reports.Write(&b, tab, "csv")
		if b.String() != want[name] {
			t.Errorf("%s report:\n%s\nwant:\n%s", name, b.String(), want[name])
		}
	}
}
