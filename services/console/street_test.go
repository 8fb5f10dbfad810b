package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// The control room records what street triage achieved, with the street
// triage nurse's notes, from its episode page. The notes, like the health
// history of triage advice, are the trust's staff's to write: the call
// handler's forms offer no box for either, the control-room mental health
// worker's (police.mhw, marked as the trust's staff) do. The console sends their outcome to the mental health
// trust's service, not the police service, so the notes never pass through
// police credentials: the call handler's page shows the outcome and never
// the notes; SPoA's page shows them in the clinical record.
func TestStreetTriageNotesGoToTheTrustAndThePoliceViewShowsOnlyTheOutcome(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)

	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("raise a triage request",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Man shouting in the Westwood Cross car park, says people are following him"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Westwood Cross, Broadstairs"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is he known? Street triage?"),
		chromedp.SendKeys(chromedp.CSS("#triage-givenName"), "Tom"),
		chromedp.SendKeys(chromedp.CSS("#triage-familyName"), "Ashby"),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
	)
	handler.flash("Triage request raised")
	episodeURL := strings.SplitN(browsertest.Get(t, handler.tab, "url", chromedp.Location()), "?", 2)[0]

	// The call handler is offered the advice and the outcome without
	// their clinical boxes, and told who records them.
	handler.do("open the advice and street triage forms",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/advice"]) > summary`)), chromedp.WaitVisible(chromedp.CSS("#advice-healthHistory-elsewhere")),
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/street"]) > summary`)), chromedp.WaitVisible(chromedp.CSS("#street-notes-elsewhere")))
	if n := handler.count(`#advice-healthHistory, [name=healthHistory]`); n != 0 {
		t.Fatalf("the call handler's advice form offers %d health-history boxes", n)
	}
	if n := handler.count(`#street-notes, form[action$="/street"] textarea`); n != 0 {
		t.Fatalf("the call handler's street triage form offers %d boxes for the nurse's notes", n)
	}
	browsertest.Screenshot(t, handler.tab, "street-triage-call-handler-form")

	const notes = "Paranoid ideation, no intent to harm; agreed to see the crisis team tomorrow"
	mhw := signIn(t, browser, base, "police.mhw", "crisisbus-police")
	mhw.do("record the street triage outcome",
		chromedp.Navigate(episodeURL),
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/advice"]) > summary`)), chromedp.WaitVisible(chromedp.CSS("#advice-healthHistory")),
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/street"]) > summary`)),
		choose("#street-s136Avoided", "yes"),
		choose("#street-outcome", "safe_haven"),
		chromedp.SendKeys(chromedp.CSS("#street-notes"), notes),
		chromedp.Click(chromedp.CSS(`form[action$="/street"] button`)),
	)
	mhw.flash("Street triage outcome recorded")
	handler.waitFor("the outcome on the call handler's page", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Street triage outcome: safe haven (s136 avoided)")
	})
	if html := handler.html(); strings.Contains(html, "crisis team tomorrow") || strings.Contains(html, "Clinical record") {
		t.Fatal("the call handler's page shows the street triage nurse's notes")
	}
	browsertest.Screenshot(t, handler.tab, "street-triage-police")

	// SPoA recorded it, so it has a part in the episode: its page opens
	// without a reason, and the notes are in the clinical record.
	spoa := signIn(t, browser, base, "spoa.clinician", "crisisbus-spoa")
	spoa.do("open the control room's episode", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
	spoa.waitFor("the notes in SPoA's clinical record", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Clinical record") && strings.Contains(main, notes)
	})
	if tl := spoa.text("#ep-timeline"); !strings.Contains(tl, "Single point of access") || !strings.Contains(tl, "Street triage outcome: safe haven") {
		t.Fatalf("the timeline does not show the outcome recorded with the trust: %q", tl)
	}
	browsertest.Screenshot(t, spoa.tab, "street-triage-spoa")
}
