package console_test

import (
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// heard is what a page's own listener on /live has been told.
func (p *person) heard() string {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "read what the page heard", chromedp.Evaluate[string](`JSON.stringify(window.__heard||[])`))
}

// (5) /live told every signed-in person every episode id and event type.
// (6) A police user could open any episode, even one police have no part
// in. (7) The green confirmation box showed whatever ?done= said.
func TestPeopleHearOfTheirOwnEpisodesAndSayWhyTheyOpenAnother(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)

	// A control-room mental health worker's worklist listens for changes.
	listener := signIn(t, browser, base, "police.mhw", "crisisbus-police")
	listener.do("listen to the live updates as the page does",
		chromedp.Evaluate[chromedp.Void](`window.__heard=[];new EventSource("/live").addEventListener("changed",function(e){window.__heard.push(JSON.parse(e.data))})`))

	// The ambulance EOC takes a call: police have no part in it.
	eoc := signIn(t, browser, base, "eoc.mhw", "crisisbus-ambulance")
	eoc.do("record the call",
		chromedp.SendKeys(chromedp.CSS("#call-summary"), "Man at home in Deal, says he cannot keep himself safe tonight"),
		chromedp.SendKeys(chromedp.CSS("#call-location"), "Deal"),
		choose("#call-response", "hear_and_treat"),
		chromedp.SendKeys(chromedp.CSS("#call-givenName"), "Tom"),
		chromedp.SendKeys(chromedp.CSS("#call-familyName"), "Hale"),
		chromedp.Click(chromedp.CSS(`form[action="/new/call"] button`)),
	)
	eoc.flash("Call recorded")
	eocEpisode := browsertest.Get(t, eoc.tab, "url", chromedp.Location())
	eocID := path.Base(strings.SplitN(eocEpisode, "?", 2)[0])

	// The confirmation is shown once, from the session: not after a
	// reload, and never from words put in the address.
	eoc.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
	eoc.do("open a made-up confirmation", chromedp.Navigate(base+"/episodes/"+eocID+"?done=Call+0800+000+000+and+give+your+password"), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
	if shown := browsertest.Get(t, eoc.tab, "flash", chromedp.Evaluate[bool](`document.querySelector(".flash")!==null`)); shown {
		t.Fatalf("a confirmation is shown after a reload or from the address: %q", eoc.text(".flash"))
	}

	// The control room raises a triage request of its own.
	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("raise a triage request",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Woman on the station platform at Ramsgate, distressed"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Ramsgate station"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is she known?"),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
	)
	handler.flash("Triage request raised")
	policeID := path.Base(strings.SplitN(browsertest.Get(t, handler.tab, "url", chromedp.Location()), "?", 2)[0])

	// The listener hears of the control room's episode; everything of the
	// EOC's was stored before it, on the same stream, and none was told.
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if h := listener.heard(); !strings.Contains(h, policeID) {
			return fmt.Errorf("the control room's page has heard %s, not yet its own episode %s", h, policeID)
		}
		return nil
	})
	if h := listener.heard(); strings.Contains(h, eocID) {
		t.Fatalf("the control room was told of the EOC's episode %s: %s", eocID, h)
	}

	// The call handler opens the EOC's episode: the console asks why first.
	handler.do("open the EOC's episode", chromedp.Navigate(eocEpisode), chromedp.WaitVisible(chromedp.CSS("#reason")))
	browsertest.Screenshot(t, handler.tab, "reason-asked")
	if main := handler.text("main"); strings.Contains(main, "Tom Hale") || strings.Contains(main, "cannot keep himself safe") {
		t.Fatalf("the episode is shown before a reason is given: %q", main)
	}
	handler.do("give no reason", chromedp.Click(chromedp.CSS(`form[action$="/reason"] button`)), chromedp.WaitVisible(chromedp.CSS("#reason-error")))
	if msg := handler.text("#reason-error"); !strings.Contains(msg, "Enter why you need to open this episode") {
		t.Fatalf("an empty reason: %q", msg)
	}
	const reason = "His name came up on a 999 call I am handling now"
	handler.do("give a reason",
		chromedp.SendKeys(chromedp.CSS("#reason"), reason),
		chromedp.Click(chromedp.CSS(`form[action$="/reason"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#ep-reason")),
	)
	if h1 := handler.text("h1"); !strings.Contains(h1, "Tom Hale") {
		t.Fatalf("after the reason the page shows %q", h1)
	}
	// The reason is the recorded purpose of the view, seen by the EOC
	// when it next opens the episode.
	bustest.CheckFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		eoc.do("open the episode again, and who has viewed it", chromedp.Navigate(base+"/episodes/"+eocID),
			chromedp.Click(chromedp.CSS("#ep-history-viewed > summary")), chromedp.WaitVisible(chromedp.CSS("#ep-disclosures")))
		if who := eoc.text("#ep-disclosures"); !strings.Contains(who, "Chris Morgan (police.handler), Police") || !strings.Contains(who, "no part in the episode; reason given: "+reason) {
			return fmt.Errorf("who has viewed reads %q", who)
		}
		return nil
	})
	browsertest.Screenshot(t, eoc.tab, "reason-recorded")

	// The journey goes on: the call handler's own episode opens without a question.
	handler.do("open the control room's episode", chromedp.Navigate(base+"/episodes/"+policeID), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
	if strings.Contains(handler.html(), `id="ep-reason"`) {
		t.Fatal("the control room's own episode asks for a reason")
	}
}
