package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/console"
)

// count is how many elements match a CSS selector.
func (p *person) count(sel string) int {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "count "+sel, chromedp.Evaluate[int](`document.querySelectorAll(`+"`"+sel+"`"+`).length`))
}

// The call handler at 2 a.m. with the NHS.UK patterns: a short choice is
// radios, communication needs are checkboxes (more than one) with a
// language, a date and time is typed as day, month, year and time (never
// the browser's own date-time box), no ordinary button is red, tags are
// the NHS.UK colours, and the confirmation is never in the address.
func TestTheConsoleUsesNHSPatternsForChoicesNeedsDatesButtonsAndTags(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)
	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")

	london, _ := time.LoadLocation("Europe/London")
	at := time.Now().In(london).Add(-20 * time.Minute)
	var episodeURL string
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		handler.do("open the worklist", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#triage-callerAccount")))
		if n := handler.count(`input[type=radio][name=risk]`); n != 4 {
			t.Errorf("%s: the risk is %d radios, want 4 (a short choice)", w, n)
		}
		if n := handler.count(`input[type=checkbox][name=communicationNeeds]`); n != 4 {
			t.Errorf("%s: communication needs are %d checkboxes, want 4", w, n)
		}
		if n := handler.count(`#triage-language`); n != 1 {
			t.Errorf("%s: no language field beside the communication needs", w)
		}
		if n := handler.count(`.button--warning, button[class*=red]`); n != 0 {
			t.Errorf("%s: %d red buttons on the worklist, want none for ordinary actions", w, n)
		}
		handler.noSideways(w + " triage form")
		browsertest.Screenshot(t, handler.tab, "nhs-triage-form-"+w)

		// Two needs ticked, with the language.
		browsertest.Get(t, handler.tab, "open the form", chromedp.Evaluate[bool](`document.querySelector('details:has(form[action="/new/triage"])').open = true`))
		handler.do("raise a triage request",
			chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Woman at the bus station, distressed, does not speak much English"),
			chromedp.SendKeys(chromedp.CSS("#triage-location"), "Pentagon bus station, Chatham"),
			chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is she known to services?"),
			choose("#triage-risk", "immediate"),
			chromedp.SendKeys(chromedp.CSS("#triage-givenName"), "Oksana"),
			chromedp.SendKeys(chromedp.CSS("#triage-ownWords"), "I want to speak to someone in Ukrainian"),
			choose("#triage-communicationNeeds", "interpreter"),
			choose("#triage-communicationNeeds", "easy_read"),
			chromedp.SendKeys(chromedp.CSS("#triage-language"), "Ukrainian"),
			chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
		)
		handler.flash("Triage request raised")
		// The page takes the wait for what was just stored (?after=) out of the
		// address as it loads; the confirmation is never in it.
		bustest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
			if u := browsertest.Get(t, handler.tab, "url", chromedp.Location()); strings.Contains(u, "?") || strings.Contains(strings.ToLower(u), "raised") {
				return fmt.Errorf("%s: after the form the address is %q: want the episode's address alone, the confirmation in the page", w, u)
			}
			return nil
		})
		if tags := handler.text("#ep-glance"); !strings.Contains(tags, "Interpreter: Ukrainian") || !strings.Contains(tags, "Easy read") {
			t.Errorf("%s: the episode shows the needs %q, want both ticked: an interpreter (Ukrainian) and easy read", w, tags)
		}
		episodeURL = browsertest.Get(t, handler.tab, "url", chromedp.Location())

		// The detention's time is typed as day, month, year and time.
		handler.do("open the detention form", chromedp.Click(chromedp.CSS("#detention > summary")), chromedp.WaitVisible(chromedp.CSS("#detain-detainedAt")))
		if n := handler.count(`input[type="datetime-local"], input[type="date"]`); n != 0 {
			t.Errorf("%s: the episode page has %d browser date boxes, want none: the NHS date input", w, n)
		}
		for _, part := range []string{"#detain-detainedAt", "#detain-detainedAt-month", "#detain-detainedAt-year", "#detain-detainedAt-time"} {
			if n := handler.count(part); n != 1 {
				t.Errorf("%s: the detention's time has no %s", w, part)
			}
		}
		// Day, month and year sit side by side, each in sight.
		if row := browsertest.Get(t, handler.tab, "the date's parts", chromedp.Evaluate[bool](`(function(){
			var tops = ["#detain-detainedAt", "#detain-detainedAt-month", "#detain-detainedAt-year"].map(s => document.querySelector(s).getBoundingClientRect());
			return tops.every(r => Math.abs(r.top - tops[0].top) < 2 && r.right <= document.documentElement.clientWidth);})()`)); !row {
			t.Errorf("%s: the day, month and year of the detention are not side by side within the page", w)
		}
		if n := handler.count(`.button--warning, button[class*=red]`); n != 0 {
			t.Errorf("%s: %d red buttons on the episode page, want none for ordinary actions", w, n)
		}
		handler.noSideways(w + " detention form")
		browsertest.Screenshot(t, handler.tab, "nhs-detention-date-input-"+w)
	}

	// At a desk: the detention recorded, its time typed.
	handler.do("open the detention form", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(episodeURL), chromedp.Click(chromedp.CSS("#detention > summary")),
		chromedp.WaitVisible(chromedp.CSS("#detain-detainedAt")))
	detain := func(day string) {
		handler.do("record the detention on "+day,
			choose("#detain-practicable", "yes"),
			choose("#detain-professional", "nurse"),
			choose("#detain-consultAdvice", "Control-room nurse advised s136"),
			choose("#detain-locationType", "public_place"),
			choose("#detain-ageYears", "29"),
			choose("#detain-detainedAt", day),
			choose("#detain-detainedAt-month", fmt.Sprint(int(at.Month()))),
			choose("#detain-detainedAt-year", fmt.Sprint(at.Year())),
			choose("#detain-detainedAt-time", at.Format("15:04")),
			chromedp.Click(chromedp.CSS(`form[action$="/detain"] button`)))
	}
	// A day the month does not have is refused on the field, and what was
	// typed is kept.
	bad := time.Date(at.Year(), at.Month()+1, 0, 0, 0, 0, 0, london).Day() + 1
	detain(fmt.Sprint(bad))
	handler.do("wait for the error", chromedp.WaitVisible(chromedp.CSS("#detain-detainedAt-error")))
	if msg := handler.text("#detain-detainedAt-error"); !strings.Contains(msg, fmt.Sprintf("%s has no day %d", at.Month(), bad)) {
		t.Errorf("a day the month does not have: %q", msg)
	}
	if v := handler.chosen("#detain-detainedAt-time"); v != at.Format("15:04") {
		t.Errorf("after the error the time typed reads %q, want %q kept", v, at.Format("15:04"))
	}
	browsertest.Screenshot(t, handler.tab, "nhs-date-input-error-desk")
	detain(fmt.Sprint(at.Day()))
	handler.flash("Detention under s136 recorded")
	handler.waitFor("the detention at the time typed", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Detained under s136 in a public place at "+at.Format("15:04"))
	})

	// The risk tag on the worklist is the NHS.UK red, at a desk and on a
	// phone (the clocks' green, yellow and red: the AMHP queue's test).
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		for _, tag := range []struct{ page, sel, name, want string }{
			{base + "/", ".card .tag--red", "red", "rgb(106, 20, 14) on rgb(247, 212, 209)"},
		} {
			handler.do("open "+tag.page, chromedp.EmulateViewport(width, 900), chromedp.Navigate(tag.page), chromedp.WaitVisible(chromedp.CSS(tag.sel)))
			colours := browsertest.Get(t, handler.tab, "the "+tag.name+" tag's colours", chromedp.Evaluate[string](
				`(function(){var s = getComputedStyle(document.querySelector("`+tag.sel+`")); return s.color + " on " + s.backgroundColor;})()`))
			if colours != tag.want {
				t.Errorf("%s: the %s tag is %s, want NHS.UK's %s tag: %s", w, tag.name, colours, tag.name, tag.want)
			}
			handler.noSideways(w + " " + tag.name + " tag's page")
			browsertest.Screenshot(t, handler.tab, "nhs-tag-"+tag.name+"-"+w)
		}
	}
}

// The sign-in page opens no live connection; a signed-in page whose live
// updates stop says so, and says nothing once they are back.
func TestTheSignInPageOpensNoLiveConnectionAndAStoppedOneIsNoticed(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{})
	base := c.URL()
	browser := browsertest.New(t)
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		anon := &person{t: t, tab: browsertest.NewTab(t, browser), base: base}
		anon.do("open the sign-in page", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.Sleep(1500*time.Millisecond))
		if n := browsertest.Get(t, anon.tab, "requests for /live", chromedp.Evaluate[int](
			`performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname === "/live").length`)); n != 0 {
			t.Errorf("%s: the sign-in page asked for live updates %d times, want never", w, n)
		}
		anon.noSideways(w + " sign-in page")
		browsertest.Screenshot(t, anon.tab, "nhs-signin-"+w)
	}

	// The duty AMHP at a desk, and on a phone.
	open := map[string]*person{}
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		amhp := signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
		amhp.do("at the width", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("main h1")), chromedp.Sleep(500*time.Millisecond))
		if hidden := browsertest.Get(t, amhp.tab, "the notice", chromedp.Evaluate[bool](`document.getElementById("live-notice").hidden`)); !hidden {
			t.Errorf("%s: with live updates running the page says they have stopped", w)
		}
		open[w] = amhp
	}
	c.Stop() // the console goes away: the live connection drops
	for _, w := range []string{"desk", "phone"} {
		amhp := open[w]
		amhp.do("wait for the notice", chromedp.WaitVisible(chromedp.CSS("#live-notice")))
		if msg := amhp.text("#live-notice"); !strings.Contains(msg, "Live updates have stopped") || !strings.Contains(msg, "out of date") {
			t.Errorf("%s: the notice reads %q", w, msg)
		}
		amhp.noSideways(w + ", live updates stopped")
		browsertest.Screenshot(t, amhp.tab, "nhs-live-updates-stopped-"+w)
	}
}
