package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
)

// reloadUntil opens u again until the text of sel holds want: the record
// takes a place's update from the bus a moment after it is stored.
func (p *person) reloadUntil(u, sel, want string) string {
	p.t.Helper()
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p.do("open "+u, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
		if got = p.text(sel); strings.Contains(got, want) {
			return got
		}
	}
	p.t.Fatalf("%s reads %q, want %q", sel, got, want)
	return ""
}

// todayAt is a London time of today, as the system started at a time of
// today has it.
func todayAt(hh, mm int) time.Time {
	l := time.Now().In(places.London)
	return time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, places.London)
}

// fetch gets a console page as the person signed in to client.
func fetch(t *testing.T, client *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The places of "Where they can go now" are asked for with the town
// chosen: a town not in the table is refused on the field, saying so, and
// the page still lists the places from where the episode says the person
// is; a place that cannot be chosen there is refused. Only the agency
// holding the episode sees the panel and chooses: the AMHP service, which
// chooses no place, is refused, and SPoA, with no part in the control
// room's episode, is asked why it opens it and shown no place.
func TestThePlacesPageTakesOnlyATownOfTheTableAndOnlyTheHoldingAgencysSession(t *testing.T) {
	base, send := startSystemAtWithSend(t, 21, 0)
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hale", Channel: "999", Summary: "Man on the harbour wall", Location: "Ramsgate harbour wall"}, &opened)
	placesURL := base + "/episodes/" + opened.Episode + "/places"

	handler := newAttacker(t, base, "")
	if status, _ := handler.try("police.handler", "crisisbus-police"); status != http.StatusSeeOther {
		t.Fatalf("signing in: %d", status)
	}
	status, body := fetch(t, handler.client, placesURL+"?town=Atlantis")
	if status != http.StatusUnprocessableEntity {
		t.Errorf("an unknown town: %d, want 422", status)
	}
	for _, want := range []string{`<a href="#places-town">“Atlantis” is not one of the towns crisisbus can rank places from: choose the town from the list</a>`,
		`id="places-town-error"`, "nearest to Ramsgate first", `data-place="haven-margate"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page for an unknown town does not have %q", want)
		}
	}
	if status, body = fetch(t, handler.client, placesURL+"?town=margate"); status != http.StatusOK || !strings.Contains(body, "nearest to Margate first") {
		t.Errorf("?town=margate: %d, nearest to Margate: %v", status, strings.Contains(body, "nearest to Margate first"))
	}
	if status, body = fetch(t, handler.client, placesURL+"?choose=crisis-line"); status != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "That place cannot be chosen here: choose one of the places listed") {
		t.Errorf("choosing the crisis line as a destination: %d", status)
	}

	amhp := newAttacker(t, base, "")
	amhp.try("amhp.duty", "crisisbus-amhp")
	if status, body = fetch(t, amhp.client, placesURL+"?town=Margate"); status != http.StatusForbidden || strings.Contains(body, "Thanet Safe Haven") {
		t.Errorf("the AMHP service asking for the places: %d, want 403 and no place", status)
	}
	spoa := newAttacker(t, base, "")
	spoa.try("spoa.clinician", "crisisbus-spoa")
	if status, body = fetch(t, spoa.client, placesURL+"?town=Margate&choose=haven-margate"); status != http.StatusForbidden ||
		!strings.Contains(body, "Why do you need this episode?") || strings.Contains(body, "Where they can go now") {
		t.Errorf("SPoA, with no part in the episode, asking for its places: %d", status)
	}
}

// 21:00. Officers find a man on Ramsgate harbour wall. The control room's
// page lists where he can go now: the Margate haven, open until 23:00, is
// the nearest; the detention form warns that the Canterbury suite has room,
// so a police station would be recorded as used while it did. Choosing the
// haven fills the referral. Later a 15-year-old is detained in Dartford
// while the children's suite holds one child: the page says the suite has
// no room, and that Darent Valley's children's liaison can take her; choosing
// it fills the arrival.
func TestOfficersSeeWhereThePersonCanGoNowAndChooseIt(t *testing.T) {
	base, send := startSystemAtWithSend(t, 21, 0)
	browser := browsertest.New(t)

	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("raise a triage request",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Man sitting on Ramsgate harbour wall, legs over the edge"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Ramsgate harbour wall"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Street triage advise the haven rather than s136?"),
		chromedp.SendKeys(chromedp.CSS("#triage-givenName"), "Dan"),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
	)
	handler.flash("Triage request raised")
	if got := handler.text("#where-now-for"); !strings.Contains(got, "nearest to Ramsgate first") {
		t.Errorf("the panel says %q", got)
	}
	if got := handler.text("#where-now-room"); !strings.HasPrefix(got, "Can take them now, nearest first: Thanet Safe Haven (Margate, 6 km)") {
		t.Errorf("what can take him now reads %q, want the Margate haven first", got)
	}
	haven := handler.text(`tr[data-place="haven-margate"]`)
	for _, want := range []string{"Thanet Safe Haven, Margate", "Open now until 23:00", "6 km", "Aged 18 and over, open access"} {
		if !strings.Contains(haven, want) {
			t.Errorf("the Margate haven's row does not say %q: %q", want, haven)
		}
	}
	if cls := browsertest.Get(t, handler.tab, "the tag's colour", chromedp.Evaluate[string](`document.querySelector('tr[data-place="haven-margate"] .tag').className`)); !strings.Contains(cls, "tag--green") {
		t.Errorf("the open haven's tag is %q", cls)
	}
	handler.do("open the police station conditions of the detention form",
		chromedp.Click(chromedp.CSS(`#detention > summary`)),
		chromedp.Click(chromedp.CSS(`#detention details > summary`)),
		chromedp.WaitVisible(chromedp.CSS("#detain-room-warning")),
	)
	if warn := handler.text("#detain-room-warning"); !strings.Contains(warn, "Health-based places of safety have room for them now: Canterbury s136 suite (adults) (24 km)") ||
		!strings.Contains(warn, "A police station used instead is recorded as used while") {
		t.Errorf("the police station's warning reads %q", warn)
	}
	browsertest.Screenshot(t, handler.tab, "route-1-ramsgate")
	handler.do("choose the Margate haven", chromedp.Click(chromedp.CSS(`tr[data-place="haven-margate"] a.button`)), chromedp.WaitVisible(chromedp.CSS("#where-now-chosen")))
	if to, kind := handler.chosen("#offer-to"), handler.chosen("#offer-kind"); to != "safehaven" || kind != "safe_haven_referral" {
		t.Errorf("choosing the haven fills the offer to %q for %q", to, kind)
	}
	if reason := handler.chosen("#offer-reason"); !strings.HasPrefix(reason, "Referral to Thanet Safe Haven, Margate") {
		t.Errorf("the referral's reason starts %q", reason)
	}
	handler.do("send the referral", chromedp.Click(chromedp.CSS(`form[action$="/offer"] button`)))
	handler.flash("Offered to Safe haven")

	// The trust's s136 suite for children says it holds one child.
	one := 1
	send(events.SPoA, "place.update", agency.PlaceUpdateRequest{Actor: "Suite nurse in charge", PlaceUpdated: events.PlaceUpdated{Place: "pos-dartford-children", Free: &one}}, nil)
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 2209 Nwosu", Channel: "999", Summary: "Girl on the bridge over the A282", Location: "Dartford, Princes Road bridge",
		Person: &events.PersonIdentified{GivenName: "Amy", AgeYears: 15}}, &opened)
	base2 := agency.Base{Episode: opened.Episode, Actor: "PC 2209 Nwosu"}
	send(events.Police, "s136.consult", police.ConsultRequest{Base: base2, S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "Detain, a place of safety for a child"}}, nil)
	send(events.Police, "s136.detain", police.DetainRequest{Base: base2, DetainedAt: todayAt(20, 55), LocationType: "public_place", AgeYears: 15}, nil)

	suite := handler.reloadUntil(base+"/episodes/"+opened.Episode, `tr[data-place="pos-dartford-children"]`, "No room")
	if !strings.Contains(suite, "No room: someone is placed there already, and once one person is, its other places cannot be used (1 of 2 free") ||
		!strings.Contains(suite, "by Suite nurse in charge") || !strings.Contains(suite, "Aged 17 and under, by referral") {
		t.Errorf("the children's suite reads %q", suite)
	}
	if got := handler.text("#where-now-for"); !strings.Contains(got, "For someone aged 15, nearest to Dartford first") {
		t.Errorf("the panel says %q", got)
	}
	if got := handler.text("#where-now-room"); !strings.HasPrefix(got, "Can take them now, nearest first: Darent Valley Hospital: children and young people's liaison (Dartford, under 1 km)") {
		t.Errorf("what can take her now reads %q", got)
	}
	if adult := handler.text(`tr[data-place="pos-dartford-adults"]`); !strings.Contains(adult, "Not for this person: it is for people aged 18 and over, and the person is 15") {
		t.Errorf("the adults' suite reads %q", adult)
	}
	if n := handler.count("#arrive-room-warning"); n != 0 {
		t.Error("the arrival warns of room in a health-based place for a child, when none can take her")
	}
	browsertest.Screenshot(t, handler.tab, "route-2-dartford-child")
	handler.do("choose Darent Valley's children's liaison",
		chromedp.Click(chromedp.CSS(`tr[data-place="liaison-dartford-children"] a.button`)), chromedp.WaitVisible(chromedp.CSS("#where-now-chosen")))
	if pt, name := handler.chosen("#arrive-placeType"), handler.chosen("#arrive-placeName"); pt != "emergency_department" || name != "Darent Valley Hospital: children and young people's liaison, Dartford" {
		t.Errorf("choosing the liaison fills the arrival with %q, %q", pt, name)
	}
	handler.do("record the arrival", chromedp.Click(chromedp.CSS(`form[action$="/arrive"] button`)))
	handler.flash("Arrival at Darent Valley Hospital")
	if place := handler.text("#ep-status"); !strings.Contains(place, "Darent Valley Hospital: children and young people's liaison, Dartford (emergency department)") {
		t.Errorf("the place of safety reads %q", place)
	}
}

// 23:30. The crisis line holds the episode of a woman in Cliftonville who
// would go to the haven. The page says the Margate haven is closed and
// opens tomorrow at 18:00; the worker refers her anyway, and the haven
// declines at once, naming the next opening.
func TestAReferralAt2330ShowsTheHavenClosedAndWhenItOpens(t *testing.T) {
	base, send := startSystemAtWithSend(t, 23, 30)
	var opened agency.OpenResponse
	send(events.Crisisline, "open", agency.OpenRequest{Actor: "Helpline worker", Channel: "111", Summary: "Rang the line, wants somewhere to go tonight", Location: "Cliftonville, Margate",
		Person: &events.PersonIdentified{GivenName: "Jo", AgeYears: 29}}, &opened)
	browser := browsertest.New(t)
	worker := signIn(t, browser, base, "helpline.worker", "crisisbus-crisisline")
	worker.do("open the episode", chromedp.Navigate(base+"/episodes/"+opened.Episode), chromedp.WaitVisible(chromedp.CSS("#where-now")))
	row := worker.text(`tr[data-place="haven-margate"]`)
	for _, want := range []string{"Thanet Safe Haven, Margate", "Closed opens tomorrow 18:00", "under 1 km"} {
		if !strings.Contains(row, want) {
			t.Errorf("the Margate haven's row does not say %q: %q", want, row)
		}
	}
	if got := worker.text("#where-now-room"); !strings.Contains(got, "None of these places can take them now") {
		t.Errorf("at 23:30 the panel says %q", got)
	}
	browsertest.Screenshot(t, worker.tab, "route-3-2330")
	worker.do("choose the haven anyway", chromedp.Click(chromedp.CSS(`tr[data-place="haven-margate"] a.button`)), chromedp.WaitVisible(chromedp.CSS("#where-now-chosen")))
	worker.do("send the referral", chromedp.Click(chromedp.CSS(`form[action$="/offer"] button`)))
	worker.flash("Offered to Safe haven")
	// The haven's inbox answers at once, often before the page shown after
	// the referral has opened its live connection: the page shows the
	// answer all the same, without being opened again.
	worker.markPage()
	worker.waitFor("the haven's answer on the page", 10*time.Second, func(main string) bool { return strings.Contains(main, "Safe haven declined") })
	if !worker.notReloaded() {
		t.Error("the page was reloaded to show the haven's answer")
	}
	if tl := worker.text("#ep-timeline"); !strings.Contains(tl, "Thanet Safe Haven (Margate): closed at this hour; it opens tomorrow 18:00") {
		t.Errorf("the haven's answer reads %q", tl)
	}
}
