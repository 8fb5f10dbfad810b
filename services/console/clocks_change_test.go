package console_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// In the browser: a walk-in recorded as arriving at 01:30 on the night
// the clocks went back is not recorded until the haven worker says which
// 01:30; the question appears on the field, with what they typed kept,
// and the visit then shows the time with its zone.
func TestAWalkInAtTheRepeated0130AsksWhichAndShowsTheOneChosen(t *testing.T) {
	base := startSystemAt(t, 20, 0)
	browser := browsertest.New(t)
	haven := signIn(t, browser, base, "haven.worker", "crisisbus-safehaven")
	haven.do("record a walk-in at 01:30 on 25 October 2026",
		choose("#haven-walkin-haven", "haven-margate"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-summary"), "Walked in after a row at home"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-arrivedAt"), "25"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-arrivedAt-month"), "10"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-arrivedAt-year"), "2026"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-arrivedAt-time"), "01:30"),
		chromedp.Click(chromedp.CSS(`form[action="/new/haven-walkin"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")),
	)
	browsertest.Screenshot(t, haven.tab, "clocks-went-back-which-0130")
	if msg := haven.text("#haven-walkin-arrivedAt-error"); !strings.Contains(msg, "01:30 on Sunday 25 October happened twice") {
		t.Fatalf("the field says %q", msg)
	}
	if typed := browsertest.Get(t, haven.tab, "the time kept", chromedp.Value(chromedp.CSS("#haven-walkin-arrivedAt-time"))); typed != "01:30" {
		t.Errorf("the time field holds %q, want what was typed", typed)
	}
	if ask := haven.text("#haven-walkin-arrivedAt-zones legend"); ask != "Which 01:30?" {
		t.Errorf("the field asks %q", ask)
	}
	browsertest.Accessible(t, haven.tab, "the walk-in form asking which 01:30")
	haven.do("choose the first, BST",
		chromedp.Click(chromedp.CSS("#haven-walkin-arrivedAt-zone")),
		chromedp.Click(chromedp.CSS(`form[action="/new/haven-walkin"] button`)),
	)
	haven.flash("Walk-in recorded")
	browsertest.Screenshot(t, haven.tab, "clocks-went-back-recorded")
	if visit := haven.text("#haven-visit"); !strings.Contains(visit, "Sun 25 Oct 01:30 BST") {
		t.Fatalf("the visit reads %q", visit)
	}
}
