package console_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
)

// detainedAndAccepted opens an episode as the control room would at 2 a.m.
// (a triage request, an s136 detention, arrival at the suite) and has the
// AMHP service accept the assessment; it returns the episode id.
func detainedAndAccepted(t *testing.T, days *clock, send func(a events.Agency, command string, req, resp any), voice *events.PersonVoiceRecorded) string {
	t.Helper()
	pc := agency.Base{Actor: "PC 4471 Hughes"}
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: pc.Actor, Channel: "999", Summary: "Man on the outside of the railings of Rochester bridge",
		Location: "Rochester bridge, Rochester", Person: &events.PersonIdentified{GivenName: "Tomasz", FamilyName: "Nowak", AgeYears: 41}, Voice: voice}, &opened)
	pc.Episode = opened.Episode
	send(events.Police, "triage.request", police.TriageRequest{Base: pc, TriageRequested: events.TriageRequested{
		CallerAccount: "passer-by", Concern: "threatening to jump", Risk: "immediate"}}, nil)
	send(events.Police, "s136.consult", police.ConsultRequest{Base: pc, S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "s136 to the suite"}}, nil)
	send(events.Police, "s136.detain", police.DetainRequest{Base: pc, DetainedAt: days.Now(), LocationType: "public_place", AgeYears: 41}, nil)
	send(events.Police, "pos.arrive", police.ArriveRequest{Base: pc, PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{ArrivedAt: days.Now(),
		PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Medway s136 suite"}}, nil)
	var offer agency.OfferResponse
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: pc, Kind: events.MHAAssessment, To: events.AMHP, Reason: "s136 assessment", Urgency: "emergency"}, &offer)
	send(events.AMHP, "handoff.accept", agency.HandoffRequest{Base: agency.Base{Episode: opened.Episode, Actor: "AMHP Sarah Okafor"}, HandoffID: offer.HandoffID}, nil)
	return opened.Episode
}

// top is where an element starts on the page, in CSS pixels from the top.
func (p *person) top(sel string) float64 {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "measure "+sel, chromedp.Evaluate[float64](
		`(function(){var e=document.querySelector(`+"`"+sel+"`"+`); return e ? e.getBoundingClientRect().top + window.scrollY : -1;})()`))
}

// The AMHP who has just accepted Tomasz sees what they can do first: the
// forms come before the timeline, and the history (handoffs, who has
// viewed) is folded away below it. No page scrolls sideways on a phone,
// and the reports' Grand Total column is in sight on a desk.
func TestTheEpisodePagePutsWhatCanBeDoneFirstAndNoPageScrollsSideways(t *testing.T) {
	days := newClock()
	base, send := startSystemWithClock(t, days)
	browser := browsertest.New(t)
	ep := detainedAndAccepted(t, days, send, &events.PersonVoiceRecorded{OwnWords: "Please find someone who speaks Polish", CommunicationNeeds: []string{"interpreter"}, Language: "Polish"})

	amhp := signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		amhp.do("open the episode", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/episodes/"+ep), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
		form, timeline := amhp.top(`#ep-actions details`), amhp.top("#ep-timeline")
		if form < 0 || form > timeline {
			t.Errorf("%s: the first form is at %.0f px, the timeline at %.0f px: want what the AMHP can do above what has happened", w, form, timeline)
		}
		if form > 900 {
			t.Errorf("%s: the first form starts %.0f px down, below the first screen (900 px)", w, form)
		}
		for _, sel := range []string{"#ep-history-handoffs", "#ep-history-viewed"} {
			if open := browsertest.Get(t, amhp.tab, "is "+sel+" open", chromedp.Evaluate[bool](`document.querySelector("`+sel+`").open`)); open {
				t.Errorf("%s: %s is open; want it folded away below the timeline", w, sel)
			}
			if amhp.top(sel) < timeline {
				t.Errorf("%s: %s is above the timeline", w, sel)
			}
		}
		amhp.noSideways(w + " episode page")
		browsertest.Screenshot(t, amhp.tab, "episode-forms-first-"+w)
		// Open, every section stays within the width too.
		browsertest.Get(t, amhp.tab, "open the folded sections", chromedp.Evaluate[bool](`document.querySelectorAll("details").forEach(d => d.open = true) || true`))
		amhp.noSideways(w + " episode page, every section open")
		browsertest.Screenshot(t, amhp.tab, "episode-all-open-"+w)

		for _, path := range []string{"/", "/handed-on", "/find", "/reports"} {
			amhp.do("open "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS("main h1")))
			amhp.noSideways(w + " " + path)
		}
		browsertest.Screenshot(t, amhp.tab, "reports-"+w)
	}
	// The reports at a desk: every table's Grand Total column in sight,
	// with no scrolling inside the table.
	amhp.do("open the reports at a desk", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/reports"), chromedp.WaitVisible(chromedp.CSS(".report-table")))
	cut := browsertest.Get(t, amhp.tab, "measure the Grand Total columns", chromedp.Evaluate[string](`(function(){
		var out = [];
		document.querySelectorAll(".report-table").forEach(function(tb){
			var ths = [...tb.querySelectorAll("thead th")], g = ths.find(th => th.textContent.trim() === "Grand Total");
			if (!g) return;
			var box = tb.parentElement.getBoundingClientRect(), r = g.getBoundingClientRect();
			if (r.right > box.right + 0.5 || r.right > document.documentElement.clientWidth || tb.parentElement.scrollWidth > tb.parentElement.clientWidth) out.push((tb.caption ? tb.caption.textContent : "a table") + " ends at " + Math.round(r.right) + " px, its box at " + Math.round(box.right));
		});
		return out.join("; ") || (document.querySelector(".report-table thead th") ? "" : "no report table");})()`))
	if cut != "" {
		t.Errorf("at 1280 px the reports' Grand Total column is cut off: %s", cut)
	}
	browsertest.Screenshot(t, amhp.tab, "reports-grand-total-desk")

	// On a phone a table scrolls inside its section: its caption is read
	// whole, within the section, and the Grand Total is in sight at the
	// section's edge, beside the row names, not over them.
	amhp.do("open the reports on a phone", chromedp.EmulateViewport(390, 900), chromedp.Navigate(base+"/reports"), chromedp.WaitVisible(chromedp.CSS(".report-table")))
	cut = browsertest.Get(t, amhp.tab, "measure the tables on a phone", chromedp.Evaluate[string](`(function(){
		var out = [];
		document.querySelectorAll(".report-table").forEach(function(tb){
			var box = tb.parentElement.getBoundingClientRect(), name = tb.caption ? tb.caption.textContent.slice(0, 40) : "a table";
			if (tb.caption && tb.caption.getBoundingClientRect().right > box.right + 0.5) out.push(name + ": the caption runs past its section");
			var ths = [...tb.querySelectorAll("thead th")], g = ths.find(th => th.textContent.trim() === "Grand Total");
			if (!g) return;
			var r = g.getBoundingClientRect();
			if (r.right > box.right + 0.5 || box.right - r.right > 2) out.push(name + ": the Grand Total ends at " + Math.round(r.right) + " px, its section at " + Math.round(box.right));
			if (r.left < ths[0].getBoundingClientRect().right - 0.5) out.push(name + ": the Grand Total covers the row names");
		});
		return out.join("; ");})()`))
	if cut != "" {
		t.Errorf("at 390 px: %s", cut)
	}
	amhp.noSideways("phone reports")
	browsertest.Screenshot(t, amhp.tab, "reports-grand-total-phone")

	// The sign-in page at a phone's width.
	anon := &person{t: t, tab: browsertest.NewTab(t, browser), base: base}
	anon.do("open the sign-in page", chromedp.EmulateViewport(390, 900), chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#username")))
	anon.noSideways("phone sign-in page")
}
