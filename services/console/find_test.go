package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/services/agency"
)

// noSideways fails the test when the page is wider than the window: at
// 390 px nobody should have to scroll sideways to read it.
func (p *person) noSideways(what string) {
	p.t.Helper()
	over := browsertest.Get(p.t, p.tab, "measure "+what, chromedp.Evaluate[int](
		`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
	if over > 0 {
		wide := browsertest.Get(p.t, p.tab, "find what is too wide", chromedp.Evaluate[string](`(function(){
			var w = document.documentElement.clientWidth, out = [];
			document.querySelectorAll("main *").forEach(function(el){ var r = el.getBoundingClientRect(); if (r.right > w + 1 && out.length < 5) out.push(el.tagName + (el.id ? "#" + el.id : "") + "." + el.className + " " + Math.round(r.right)); });
			return out.join("; ");})()`))
		browsertest.Screenshot(p.t, p.tab, "FAILED-sideways-"+strings.ReplaceAll(what, " ", "-"))
		p.t.Errorf("%s scrolls sideways by %d px (too wide: %s)", what, over, wide)
	}
}

// The control-room mental health worker raised Aisha's triage; the AMHP
// service has her now. At 2 a.m. her sister rings back with the reference
// she was read: the control room finds Aisha on its "handed on" list, and
// by the reference, her NHS number or her name, at a desk and on a phone.
func TestTheControlRoomFindsWhatItHandedOnByReferenceNHSNumberOrName(t *testing.T) {
	base, send := startSystemWithClock(t, newClock())
	browser := browsertest.New(t)

	pc := agency.Base{Actor: "Dee Walsh (control-room mental health worker)"}
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: pc.Actor, Channel: "999", Summary: "Woman on the wrong side of the railings, Medway bridge",
		Person: &events.PersonIdentified{GivenName: "Aisha", FamilyName: "Rahman", NHSNumber: "9434765919"}}, &opened)
	pc.Episode = opened.Episode
	var offer agency.OfferResponse
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: pc, Kind: events.MHAAssessment, To: events.AMHP, Reason: "s136 assessment", Urgency: "emergency"}, &offer)
	send(events.AMHP, "handoff.accept", agency.HandoffRequest{Base: agency.Base{Episode: opened.Episode, Actor: "AMHP Sarah Okafor"}, HandoffID: offer.HandoffID}, nil)
	// One the control room still holds, another Aisha.
	send(events.Police, "open", agency.OpenRequest{Actor: pc.Actor, Channel: "999", Summary: "Caller worried about a neighbour",
		Person: &events.PersonIdentified{GivenName: "Aisha", FamilyName: "Khan"}}, nil)
	ref := episode.Reference(opened.Episode)

	police := signIn(t, browser, base, "police.mhw", "crisisbus-police")
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		police.do("open the handed-on list", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"),
			chromedp.Click(chromedp.CSS(`nav a[href="/handed-on"]`)), chromedp.WaitVisible(chromedp.CSS("#handedon")))
		police.waitFor("Aisha handed on", 10*time.Second, func(main string) bool { return strings.Contains(main, "Aisha Rahman") })
		list := police.text("#handedon")
		if !strings.Contains(list, "AMHP") || strings.Contains(list, "Aisha Khan") {
			t.Errorf("%s: the handed-on list reads %q: want Aisha Rahman with the AMHP service, not Aisha Khan, whom the control room still holds", w, list)
		}
		if got := police.text("#handedon .reference"); got != ref {
			t.Errorf("%s: the handed-on card's reference is %q, want %q", w, got, ref)
		}
		police.noSideways(w + " handed-on list")
		browsertest.Screenshot(t, police.tab, "find-handed-on-"+w)

		for _, c := range []struct{ typed, want, not string }{
			{strings.ToLower(strings.ReplaceAll(ref, " ", "")), "Aisha Rahman", "Aisha Khan"}, // as heard on the phone
			{"943 476 5919", "Aisha Rahman", "Aisha Khan"},
			{"aisha", "Aisha Khan", ""},
		} {
			police.do("search for "+c.typed, chromedp.Click(chromedp.CSS(`nav a[href="/find"]`)), chromedp.WaitVisible(chromedp.CSS("#find-term")),
				chromedp.SendKeys(chromedp.CSS("#find-term"), c.typed), chromedp.Click(chromedp.CSS(".search-form button")),
				chromedp.WaitVisible(chromedp.CSS("#found-h")))
			found := police.text("#found")
			if !strings.Contains(found, c.want) || (c.not != "" && strings.Contains(found, c.not)) {
				t.Errorf("%s: a search for %q finds %q: want %s%s", w, c.typed, found, c.want, map[bool]string{true: ", not " + c.not}[c.not != ""])
			}
			if u := browsertest.Get(t, police.tab, "url", chromedp.Location()); strings.Contains(strings.ToLower(u), strings.ToLower(strings.Fields(c.typed)[0])) {
				t.Errorf("%s: the search term is in the address %q", w, u)
			}
		}
		if found := police.text("#found"); !strings.Contains(found, "Aisha Rahman") {
			t.Errorf("%s: a search for \"aisha\" finds %q, want both Aishas", w, found)
		}
		police.noSideways(w + " search results")
		browsertest.Screenshot(t, police.tab, "find-search-"+w)
	}

	// An empty search says what to enter, on the field.
	police.do("search for nothing", chromedp.Navigate(base+"/find"), chromedp.Click(chromedp.CSS(".search-form button")), chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	if msg := police.text("#find-term-error"); !strings.Contains(msg, "Enter a name, an NHS number, a phone number or a reference") {
		t.Errorf("an empty search says %q", msg)
	}
}
