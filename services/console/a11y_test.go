package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/services/agency"
	amhpsvc "github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/console"
	"github.com/crisisbus/crisisbus/services/police"
)

// notPages are the console's routes that show no page: files, the live
// stream, and signing out (a redirect). Every other route is a page, and
// the accessibility test must open it.
var notPages = map[string]string{
	"GET /static/":     "the stylesheet, the script and the icon",
	"GET /favicon.ico": "a redirect to the icon",
	"GET /live":        "the live updates' event stream",
	"POST /signout":    "a redirect to the sign-in page",
}

// pageChecks runs axe-core on each page a test opens and notes which of
// the console's routes showed it.
type pageChecks struct {
	t      *testing.T
	routes *http.ServeMux
	seen   map[string][]string // route pattern → the pages checked
}

func newPageChecks(t *testing.T) *pageChecks {
	c := &pageChecks{t: t, routes: http.NewServeMux(), seen: map[string][]string{}}
	for _, p := range console.Routes() {
		c.routes.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	return c
}

// here checks the page the person has open, shown by a request of method.
func (c *pageChecks) here(p *person, method, what string) {
	c.t.Helper()
	u, err := url.Parse(browsertest.Get(c.t, p.tab, "where the page is", chromedp.Location()))
	if err != nil {
		c.t.Fatal(err)
	}
	_, pattern := c.routes.Handler(httptest.NewRequest(method, u.Path, nil))
	if pattern == "" {
		c.t.Fatalf("%s: %s %s is none of the console's routes", what, method, u.Path)
	}
	c.seen[pattern] = append(c.seen[pattern], what)
	// On a desk, and on a phone.
	browsertest.Accessible(c.t, p.tab, what+" at 1280 px")
	p.do("turn to a phone", chromedp.EmulateViewport(390, 844))
	browsertest.Accessible(c.t, p.tab, what+" at 390 px")
	p.do("back to the desk", chromedp.EmulateViewport(1280, 800))
}

// open opens path and checks it.
func (c *pageChecks) open(p *person, path, what string) {
	c.t.Helper()
	p.do("open "+what, chromedp.Navigate(p.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
	c.here(p, http.MethodGet, what)
}

// submit submits the form (as typed so far, which may be nothing) and
// checks the page the console answers with, which stays at the form's
// address: search results, a preview, or the form again with its errors.
func (c *pageChecks) submit(p *person, form, what string) {
	c.t.Helper()
	p.markPage()
	p.do("submit "+form, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+"`"+form+"`"+`).requestSubmit()`))
	deadline := time.Now().Add(15 * time.Second)
	for p.notReloadedYet() {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: the page did not change after submitting %s", what, form)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.do("wait for "+what, chromedp.WaitVisible(chromedp.CSS("main")))
	c.here(p, http.MethodPost, what)
}

// notReloadedYet is whether the page marked by markPage is still open,
// reading nothing while the next is loading.
func (p *person) notReloadedYet() bool {
	v, err := chromedp.Run(p.tab, chromedp.Evaluate[bool](`window.__notReloaded === true || document.readyState !== "complete"`))
	return err != nil || v
}

// Every page of the console, as each of its people sees it, at 1280 and
// 390 px wide, with every collapsed section opened, has no accessibility violation that axe-core
// finds: the sign-in page (and its errors), each agency's worklist,
// handed-on list, search and its results, and reports, the episode page in
// each state that shows forms (the control room's own, the AMHP's offer and
// accepted assessment, the helpline's offer and calls, SPoA's referral, the
// EOC's own, the safe haven's referral and visit), with a form's errors,
// "Where they can go now" for a town, the note for the person (its preview
// and its errors), and the question why a person opens an episode their
// agency has no part in. The test lists the console's routes: a page
// nothing here opens fails it.
func TestEveryPageOfTheConsolePassesAxeWithItsSectionsOpen(t *testing.T) {
	base, send := startSystemAtWithSend(t, 20, 0)
	browser := browsertest.New(t)
	c := newPageChecks(t)

	// The control room's episode of a man on Ramsgate harbour wall.
	var dan agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hale", Channel: "999", Summary: "Man on the harbour wall", Location: "Ramsgate harbour wall",
		Person: &events.PersonIdentified{GivenName: "Dan", FamilyName: "Kerr", AgeYears: 30},
		Voice:  &events.PersonVoiceRecorded{OwnWords: "I just need to talk to someone", CommunicationNeeds: []string{"interpreter"}, Language: "Polish"}}, &dan)
	// An s136 detention offered to the AMHP service.
	pc := agency.Base{Actor: "PC 2209 Nwosu"}
	var tom agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: pc.Actor, Channel: "999", Summary: "Man on Rochester bridge", Location: "Rochester bridge, Rochester",
		Person: &events.PersonIdentified{GivenName: "Tomasz", FamilyName: "Nowak", AgeYears: 41}}, &tom)
	pc.Episode = tom.Episode
	send(events.Police, "triage.request", police.TriageRequest{Base: pc, TriageRequested: events.TriageRequested{CallerAccount: "passer-by", Concern: "threatening to jump", Risk: "immediate"}}, nil)
	send(events.Police, "s136.consult", police.ConsultRequest{Base: pc, S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "s136 to the suite"}}, nil)
	send(events.Police, "s136.detain", police.DetainRequest{Base: pc, DetainedAt: todayAt(19, 40), LocationType: "public_place", AgeYears: 41}, nil)
	send(events.Police, "pos.arrive", police.ArriveRequest{Base: pc, PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{ArrivedAt: todayAt(19, 55),
		PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Medway s136 suite"}}, nil)
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: pc, Kind: events.MHAAssessment, To: events.AMHP, Reason: "s136 assessment", Urgency: "emergency"}, nil)
	// An assessment that did not admit Daniel: the helpline is offered his follow-up.
	var daniel agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hughes", Channel: "999", Summary: "Man at Chatham station",
		Person: &events.PersonIdentified{GivenName: "Daniel", FamilyName: "Brook"}}, &daniel)
	var offer agency.OfferResponse
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: agency.Base{Episode: daniel.Episode, Actor: "PC 4471 Hughes"}, Kind: events.MHAAssessment,
		To: events.AMHP, Reason: "assessment needed", Urgency: "emergency"}, &offer)
	send(events.AMHP, "handoff.accept", agency.HandoffRequest{Base: agency.Base{Episode: daniel.Episode, Actor: "AMHP Sarah Okafor"}, HandoffID: offer.HandoffID}, nil)
	send(events.AMHP, "outcome", amhpOutcome(daniel.Episode, todayAt(19, 30)), nil)
	// The EOC refers a caller to SPoA.
	var aisha agency.OpenResponse
	send(events.Ambulance, "open", agency.OpenRequest{Actor: "EOC MHW Priya", Channel: "999", Summary: "Caller with thoughts of ending her life", Location: "Gillingham",
		Person: &events.PersonIdentified{GivenName: "Aisha", FamilyName: "Rahman"}}, &aisha)
	send(events.Ambulance, "handoff.offer", agency.OfferRequest{Base: agency.Base{Episode: aisha.Episode, Actor: "EOC MHW Priya"}, Kind: events.SPoAReferral,
		To: events.SPoA, Reason: "needs the crisis team tonight", Urgency: "urgent"}, nil)
	// The control room refers a woman to the safe haven.
	var jo agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hale", Channel: "101", Summary: "Woman outside Margate station", Location: "Margate",
		Person: &events.PersonIdentified{GivenName: "Jo", AgeYears: 29}}, &jo)
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: agency.Base{Episode: jo.Episode, Actor: "PC 4471 Hale"}, Kind: events.SafeHavenReferral,
		To: events.SafeHaven, Reason: "would rather go to the haven", Urgency: "urgent"}, nil)

	// Signing in.
	door := &person{t: t, tab: browsertest.NewTab(t, browser), base: base}
	c.open(door, "/signin", "the sign-in page")
	door.do("type a wrong password", chromedp.SendKeys(chromedp.CSS("#username"), "police.handler"), chromedp.SendKeys(chromedp.CSS("#password"), "wrong"))
	c.submit(door, `main form[action="/signin"]`, "the sign-in page with a wrong password")

	people := []struct{ username, password string }{
		{"police.handler", "crisisbus-police"}, {"police.mhw", "crisisbus-police"}, {"eoc.mhw", "crisisbus-ambulance"},
		{"spoa.clinician", "crisisbus-spoa"}, {"amhp.duty", "crisisbus-amhp"}, {"helpline.worker", "crisisbus-crisisline"}, {"haven.worker", "crisisbus-safehaven"},
	}
	signedIn := map[string]*person{}
	for _, who := range people {
		p := signIn(t, browser, base, who.username, who.password)
		signedIn[who.username] = p
		c.open(p, "/", who.username+"'s worklist")
		c.open(p, "/handed-on", who.username+"'s handed-on list")
		c.open(p, "/find", who.username+"'s search")
		p.do("type a search", chromedp.SendKeys(chromedp.CSS("#find-term"), "Dan"))
		c.submit(p, `form[action="/find"]`, who.username+"'s search results")
		c.open(p, "/reports", who.username+"'s reports")
	}

	handler := signedIn["police.handler"]
	handler.do("open the worklist", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("main")))
	c.submit(handler, `form[action="/new/triage"]`, "the control room's triage request with nothing typed")
	c.open(handler, "/episodes/"+dan.Episode, "the control room's own episode")
	c.submit(handler, `form[action$="/offer"]`, "the control room's episode with the offer's errors")
	c.open(handler, "/episodes/"+dan.Episode+"/places?town=Margate", "where Dan can go now, from Margate")
	c.open(handler, "/episodes/"+dan.Episode+"/note", "Dan's note of what happens next")
	c.submit(handler, `form[action$="/note/preview"]`, "Dan's note, previewed")
	c.submit(handler, `form[action$="/note/given"]`, "Dan's note given without saying how")
	c.open(handler, "/episodes/"+tom.Episode, "the control room's episode offered to the AMHP service")

	eoc := signedIn["eoc.mhw"]
	eoc.do("open the worklist", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("main")))
	c.submit(eoc, `form[action="/new/call"]`, "the EOC's new call with nothing typed")
	c.open(eoc, "/episodes/"+aisha.Episode, "the EOC's episode offered to SPoA")

	spoa := signedIn["spoa.clinician"]
	c.open(spoa, "/episodes/"+aisha.Episode, "SPoA's referral from the EOC")
	c.open(spoa, "/episodes/"+dan.Episode, "SPoA asked why it opens the control room's episode")
	c.submit(spoa, `form[action$="/reason"]`, "SPoA's reason left empty")

	amhp := signedIn["amhp.duty"]
	c.open(amhp, "/episodes/"+tom.Episode, "the AMHP's offered assessment")
	amhp.do("accept the assessment", chromedp.Click(chromedp.CSS(`form[action$="/accept"] button`)))
	amhp.flash("Accepted")
	c.here(amhp, http.MethodGet, "the AMHP's accepted assessment")

	helpline := signedIn["helpline.worker"]
	c.open(helpline, "/episodes/"+daniel.Episode, "the helpline's offered follow-up")
	helpline.do("accept the follow-up", chromedp.Click(chromedp.CSS(`form[action$="/accept"] button`)))
	helpline.flash("Accepted")
	c.here(helpline, http.MethodGet, "the helpline's follow-up calls")

	haven := signedIn["haven.worker"]
	haven.do("open the worklist", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("main")))
	c.submit(haven, `form[action="/new/haven-walkin"]`, "the haven's walk-in with nothing typed")
	c.open(haven, "/episodes/"+jo.Episode, "the haven's referral")
	haven.do("accept the referral", chromedp.Click(chromedp.CSS(`form[action$="/accept"] button`)))
	haven.flash("Accepted")
	c.here(haven, http.MethodGet, "the haven's accepted referral")
	haven.do("record her arrival", choose("#haven-arrive-haven", "haven-margate"), chromedp.Click(chromedp.CSS(`form[action$="/haven-arrive"] button`)))
	haven.flash("Arrival recorded")
	c.here(haven, http.MethodGet, "the haven's visit")

	var missing []string
	for _, p := range console.Routes() {
		if _, ok := notPages[p]; ok {
			continue
		}
		if len(c.seen[p]) == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Errorf("no accessibility check opens these pages of the console: %s (add them to this test, or to notPages if they show no page)", strings.Join(missing, ", "))
	}
	for p := range notPages {
		if !slices.Contains(console.Routes(), p) {
			t.Errorf("notPages names %q, which is not a route of the console", p)
		}
	}
	t.Logf("checked %d pages on %d routes", func() (n int) {
		for _, v := range c.seen {
			n += len(v)
		}
		return n
	}(), len(c.seen))
}

// amhpOutcome is an assessment that did not admit the person.
func amhpOutcome(episode string, at time.Time) amhpsvc.OutcomeRequest {
	return amhpsvc.OutcomeRequest{Base: agency.Base{Episode: episode, Actor: "AMHP Sarah Okafor"}, Outcome: "not_admitted", CompletedAt: at, Notes: "safety plan with his sister"}
}
