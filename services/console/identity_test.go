package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// Mid-call the caller knows only a first name, or only what the person
// looks like: the triage request is raised with whatever they know, and a
// mistake is named in words on the field it is about, never in the
// contract's.
func TestATriageRequestIsRaisedWithWhateverTheCallerKnowsOfThePerson(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)
	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	raise := func(what string, fill ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		handler.do("open the form", chromedp.Navigate(base+"/"), chromedp.WaitReady(chromedp.CSS(`form[action="/new/triage"]`)))
		browsertest.Get(t, handler.tab, "open the form", chromedp.Evaluate[bool](`document.querySelector('details:has(form[action="/new/triage"])').open = true`))
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Shopkeeper says a man has been sitting on the cliff edge at Dover for an hour"),
			chromedp.SendKeys(chromedp.CSS("#triage-location"), "Shakespeare Cliff, Dover"),
			chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is he known? Who should attend?"),
		}
		steps = append(steps, fill...)
		steps = append(steps, chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)))
		handler.do(what, steps...)
	}
	for _, width := range []int64{1280, 390} {
		handler.do("set the width", chromedp.EmulateViewport(width, 900))
		w := map[int64]string{1280: "desk", 390: "phone"}[width]

		// A first name only: raised, and the episode is headed with it.
		raise("raise with a first name only", chromedp.SendKeys(chromedp.CSS("#triage-givenName"), "Sam"))
		handler.flash("Triage request raised")
		if h := handler.text("main h1"); h != "Sam" {
			t.Errorf("%s: the episode is headed %q, want the first name the caller gave", w, h)
		}
		browsertest.Screenshot(t, handler.tab, "first-name-only-"+w)

		// No name at all: an approximate age and a description, with a
		// high risk.
		raise("raise with an age and a description",
			chromedp.SendKeys(chromedp.CSS("#triage-ageYears"), "about 50"),
			chromedp.SendKeys(chromedp.CSS("#triage-description"), "Grey coat, walking stick, Scottish accent"),
			choose("#triage-risk", "high"))
		handler.flash("Triage request raised")
		if h := handler.text("main h1"); h != "Person not yet identified, 50" {
			t.Errorf("%s: the episode is headed %q", w, h)
		}
		if main := handler.text("main"); !strings.Contains(main, "Grey coat, walking stick") {
			t.Errorf("%s: the description is not on the episode page", w)
		}
		// The question the handler asked is under its own heading, not
		// under "Risks", which holds the risk they judged.
		if asked := handler.text("#ep-asked"); !strings.Contains(asked, "Is he known? Who should attend?") {
			t.Errorf("%s: the advice asked for reads %q, want the handler's question", w, asked)
		}
		if risks := handler.text("#ep-risks"); strings.Contains(risks, "Who should attend") || !strings.Contains(risks, "high") {
			t.Errorf("%s: the risks read %q: want the high risk, and not the question asked", w, risks)
		}
		handler.noSideways(w + " episode raised with an age")
		browsertest.Screenshot(t, handler.tab, "age-and-description-"+w)

		// Known by another name: the card on the control room's list says so.
		raise("raise with the name he goes by", chromedp.SendKeys(chromedp.CSS("#triage-knownAs"), "Jock"))
		handler.flash("Triage request raised")
		handler.do("back to the list", chromedp.Navigate(base+"/"))
		handler.waitFor("the card", 10*time.Second, func(main string) bool { return strings.Contains(main, "Known as Jock") })
		browsertest.Screenshot(t, handler.tab, "control-room-list-"+w)
	}

	// Mistakes: each on its own field, in words, at a desk and on a phone.
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		handler.do("set the width", chromedp.EmulateViewport(width, 900))
		raise("raise with an age in words",
			chromedp.SendKeys(chromedp.CSS("#triage-ageYears"), "thirty"),
			chromedp.WaitVisible(chromedp.CSS("#triage-givenName")))
		handler.do("wait for the error", chromedp.WaitVisible(chromedp.CSS(".error-summary")))
		if e := handler.text("#triage-ageYears-error"); !strings.Contains(e, "Enter the age as a whole number of years") {
			t.Errorf("%s: the age's error reads %q", w, e)
		}
		raise("raise with a first name too long",
			choose("#triage-givenName", strings.Repeat("Alexander", 23)))
		handler.do("wait for the error", chromedp.WaitVisible(chromedp.CSS(".error-summary")))
		if e := handler.text("#triage-givenName-error"); !strings.Contains(e, "The first name must be 200 characters or fewer (it is 207)") {
			t.Errorf("%s: the first name's error reads %q", w, e)
		}
		if e := handler.text(".error-summary"); strings.Contains(e, "/data") || strings.Contains(e, "maxLength") || strings.Contains(e, "property") {
			t.Errorf("%s: the contract's words reach the person: %q", w, e)
		}
		if v := browsertest.Get(t, handler.tab, "kept", chromedp.Value(chromedp.CSS("#triage-location"))); v != "Shakespeare Cliff, Dover" {
			t.Errorf("%s: the location holds %q after the error", w, v)
		}
		handler.noSideways(w + " triage form with its errors")
		browsertest.Screenshot(t, handler.tab, "first-name-too-long-"+w)
	}
}
