package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/cli"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/reports"
)

// A police control room's own system publishes, straight onto the bus with
// `crisisbus publish`, that a 16-year-old detained under s136 arrived at a
// police station: the police service's command would have refused it
// (s136A(1)), but it happened, so it is kept. The record applies it and
// raises it as an alert, by the very rule the command cites, in the views of
// the owner (police) and of the AMHP service; the places report counts it.
func TestUnder18AtAPoliceStationPublishedDirectlyIsKeptAndRaised(t *testing.T) {
	p := start(t)
	pc := "PC 881 Shah"
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 1123", Channel: "999", Summary: "teenager on the railway footbridge, says she wants to jump",
		Person: &events.PersonIdentified{GivenName: "Maya", FamilyName: "Harper", AgeYears: 16},
	}).Episode
	do[police.ConsultRequest, agency.Receipt](p, events.Police, "s136.consult", police.ConsultRequest{Base: base(ep, pc),
		S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "detain; the children's suite in Dartford"}})
	do[police.DetainRequest, agency.Receipt](p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc),
		DetainedAt: p.clock.Now(), LocationType: "transport", AgeYears: 16})
	p.clock.Advance(30 * time.Minute)
	arrived := events.PlaceOfSafetyArrived{ArrivedAt: p.clock.Now(), PlaceType: events.PoliceStation, PlaceName: "Medway police station",
		PoliceStation: &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true, InspectorAuthorisation: "Insp. Cole", HealthProfessionalConsulted: true}}

	// Through the command: refused.
	const rule = "s136A(1): a police station may never be used as a place of safety for a person under 18 (the person is 16)"
	refused(p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc), PlaceOfSafetyArrived: arrived}, 403, rule)

	// Published directly: stored.
	ev, err := events.New(events.Police, ep, &arrived, events.By(pc))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "arrival.json")
	os.WriteFile(file, raw, 0o600)
	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), []string{"publish", "--data", p.dir, "--nats", p.admin.Conn().ConnectedUrl(), file},
		strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "1 published, 0 duplicates, 0 rejected") {
		t.Fatalf("crisisbus publish exited %d: %s%s", code, &out, &errOut)
	}

	// Kept: on the timeline, applied, not a conflict.
	v := p.record(ep, p.caughtUp(ep))
	if v.S136 == nil || v.S136.PlaceType != events.PoliceStation {
		t.Fatalf("the arrival was not applied: s136 = %+v", v.S136)
	}
	if len(v.Conflicts) > 0 || len(v.Unreadable) > 0 {
		t.Fatalf("the arrival was set aside: conflicts %v, unreadable %v", v.Conflicts, v.Unreadable)
	}

	// Raised, with the rule the command cites, to the owner and to the AMHP service.
	for _, a := range []events.Agency{events.Police, events.AMHP} {
		_, view := p.view(ep, a, "duty "+string(a))
		if view.Owner != events.Police && a == events.Police {
			t.Fatalf("owner is %s, want police", view.Owner)
		}
		want := episode.Alert{EventID: ev.ID, Type: "place_of_safety.arrived", Agency: events.Police, Time: ev.Time, Section: "s136A(1)", Text: rule}
		if len(view.Alerts) == 1 && view.Alerts[0].Time.Equal(want.Time) {
			view.Alerts[0].Time = want.Time
		}
		if len(view.Alerts) != 1 || view.Alerts[0] != want {
			t.Errorf("%s view alerts = %+v, want [%+v]", a, view.Alerts, want)
		}
		if !onTimeline(view.Timeline, ev.ID) {
			t.Errorf("%s view: the arrival is not on the timeline", a)
		}
	}

	// Counted in the places report.
	proj, err := reports.Rebuild(context.Background(), p.admin)
	if err != nil {
		t.Fatal(err)
	}
	nov := reports.MonthFor(2026, time.November)
	tab, err := proj.Report("places", reports.Range{From: nov, To: nov})
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	reports.Write(&csv, tab, "csv")
	for _, row := range []string{"Police station,1,1", "Under 18 at a police station,1,1", reports.ForbiddenPlaceLabel + ",1,1"} {
		if !strings.Contains(csv.String(), row+"\n") {
			t.Errorf("places report lacks %q:\n%s", row, csv.String())
		}
	}
}

func onTimeline(tl []episode.Entry, id string) bool {
	for _, e := range tl {
		if e.EventID == id {
			return true
		}
	}
	return false
}
