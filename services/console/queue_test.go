package console_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
)

// The duty AMHP at 2 a.m. chooses from the queue: before accepting, the
// card says the person needs a Polish interpreter, that the risk is
// immediate and the request an emergency, and the s136 clock is a green
// tag that turns yellow within the last two hours. A case the AMHP
// concludes "not admitted" leaves the queue: it waits for the helpline.
func TestTheAMHPQueueShowsNeedsRiskUrgencyAndTheClockAndLetsGoOfNotAdmitted(t *testing.T) {
	days := newClock()
	base, send := startSystemWithClock(t, days)
	browser := browsertest.New(t)

	pc := agency.Base{Actor: "PC 4471 Hughes"}
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: pc.Actor, Channel: "999", Summary: "Man on the outside of the railings of Rochester bridge",
		Person: &events.PersonIdentified{GivenName: "Tomasz", FamilyName: "Nowak"},
		Voice:  &events.PersonVoiceRecorded{OwnWords: "Please find someone who speaks Polish", CommunicationNeeds: []string{"interpreter"}, Language: "Polish"}}, &opened)
	pc.Episode = opened.Episode
	send(events.Police, "triage.request", police.TriageRequest{Base: pc, TriageRequested: events.TriageRequested{
		CallerAccount: "passer-by", Concern: "threatening to jump", Risk: "immediate"}}, nil)
	send(events.Police, "s136.consult", police.ConsultRequest{Base: pc, S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "s136 to the suite"}}, nil)
	send(events.Police, "s136.detain", police.DetainRequest{Base: pc, DetainedAt: days.Now(), LocationType: "public_place", AgeYears: 41}, nil)
	send(events.Police, "pos.arrive", police.ArriveRequest{Base: pc, PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{ArrivedAt: days.Now(),
		PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Medway s136 suite"}}, nil)
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: pc, Kind: events.MHAAssessment, To: events.AMHP, Reason: "s136 assessment", Urgency: "emergency"}, nil)

	amhp := signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
	// The s136 clock as a tag of the NHS.UK colours, as the person sees it.
	clockTag := func(w, colour, says string) {
		t.Helper()
		bustest.CheckFor(t, 5*time.Second, 100*time.Millisecond, func() error {
			if c, text := amhp.attr(".card time.clock", "class"), amhp.text(".card time.clock"); !strings.Contains(c, "tag--"+colour) || !strings.Contains(text, says) {
				return fmt.Errorf("%s: the s136 clock is %q reading %q, want a %s tag saying %q", w, c, text, colour, says)
			}
			// The NHS.UK tag colours, as the person sees them.
			want := map[string]string{"green": "rgb(0, 76, 35) on rgb(204, 229, 216)", "yellow": "rgb(77, 71, 18) on rgb(255, 245, 157)", "red": "rgb(106, 20, 14) on rgb(247, 212, 209)"}[colour]
			if got := browsertest.Get(t, amhp.tab, "the clock's colours", chromedp.Evaluate[string](
				`(function(){var s = getComputedStyle(document.querySelector(".card time.clock")); return s.color + " on " + s.backgroundColor;})()`)); got != want {
				return fmt.Errorf("%s: the %s clock is %s, want NHS.UK's %s", w, colour, got, want)
			}
			return nil
		})
	}
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		amhp.do("look at the queue", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"))
		amhp.waitFor("Tomasz in the queue", 10*time.Second, func(main string) bool { return strings.Contains(main, "Tomasz Nowak") })
		tags := amhp.text(".card .tags")
		for _, want := range []string{"Emergency", "Immediate risk", "Interpreter: Polish"} {
			if !strings.Contains(tags, want) {
				t.Errorf("%s: the card's tags read %q, without %q", w, tags, want)
			}
		}
		clockTag(w, "green", "left") // 24 hours left
		browsertest.Screenshot(t, amhp.tab, "amhp-queue-tags-"+w)
	}

	// 22 hours on: within the last two hours, the clock is a yellow tag
	// that says so, as the page counts it down; past the 24 hours, a red
	// tag saying it is overdue. At a desk and on a phone.
	for _, state := range []struct {
		advance      time.Duration
		colour, says string
	}{{22*time.Hour + 5*time.Minute, "yellow", "due soon"}, {2 * time.Hour, "red", "overdue"}} {
		days.advance(state.advance)
		amhp = signIn(t, browser, base, "amhp.duty", "crisisbus-amhp") // a new shift
		for _, width := range []int64{1280, 390} {
			w := map[int64]string{1280: "desk", 390: "phone"}[width]
			amhp.do("look at the queue", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"))
			amhp.waitFor("Tomasz in the queue", 10*time.Second, func(main string) bool { return strings.Contains(main, "Tomasz Nowak") })
			clockTag(w, state.colour, state.says)
			// The reference is read over the phone: it is never broken across lines.
			if lines := browsertest.Get(t, amhp.tab, "the reference's lines", chromedp.Evaluate[int](`document.querySelector(".card .reference").getClientRects().length`)); lines != 1 {
				t.Errorf("%s: the card's reference is broken over %d lines", w, lines)
			}
			amhp.noSideways(w + " queue")
			browsertest.Screenshot(t, amhp.tab, "amhp-queue-clock-"+state.colour+"-"+w)
		}
	}

	cardRef := amhp.text(".card .reference")
	amhp.do("accept the assessment", chromedp.EmulateViewport(1280, 900), chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)))
	amhp.flash("Accepted")
	episodeURL := browsertest.Get(t, amhp.tab, "url", chromedp.Location())
	amhp.do("record not admitted",
		chromedp.Click(chromedp.CSS("#outcome > summary")),
		choose("#outcome-outcome", "not_admitted"),
		chromedp.Click(chromedp.CSS(`form[action$="/outcome"] button`)))
	amhp.flash("The helpline has been offered 4 days of follow-up calls")
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		amhp.do("back to the queue", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"))
		amhp.waitFor("Tomasz gone from the queue", 10*time.Second, func(main string) bool { return !strings.Contains(main, "Tomasz Nowak") })
		browsertest.Screenshot(t, amhp.tab, "amhp-queue-after-not-admitted-"+w)
	}

	// The episode page: a reference to read over the phone, the same as
	// on the card, and a timeline in words with London times.
	uuid := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`)
	code := regexp.MustCompile(`\b[a-z0-9]+_[a-z0-9_]+\b`)
	when := regexp.MustCompile(`^((today|yesterday) \d\d:\d\d|[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d\d:\d\d)$`)
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		amhp.do("open the episode", chromedp.EmulateViewport(width, 900), chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#timeline")))
		browsertest.Screenshot(t, amhp.tab, "episode-timeline-in-words-"+w)
		ref := amhp.text("#ep-ref .reference")
		if !regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4} [0-9A-HJKMNP-TV-Z]{4}$`).MatchString(ref) || ref != strings.TrimSpace(cardRef) {
			t.Errorf("%s: the episode's reference reads %q (the card's %q), want eight letters and digits in two groups, the same on both", w, ref, cardRef)
		}
		// What the person reads in each row (on a phone the cells stack,
		// each named by a label the stylesheet adds, which is not text).
		rows := browsertest.Get(t, amhp.tab, "read the timeline", chromedp.Evaluate[[][]string](
			`[...document.querySelectorAll("#timeline tbody tr")].map(r => [...r.cells].map(c => c.innerText.trim()))`))
		if len(rows) < 8 {
			t.Fatalf("%s: the timeline has %d rows", w, len(rows))
		}
		for _, r := range rows {
			if !when.MatchString(r[0]) {
				t.Errorf("%s: a timeline time reads %q, want \"today 19:23\" or a day and time", w, r[0])
			}
			if uuid.MatchString(r[2]) || code.MatchString(r[2]) {
				t.Errorf("%s: a timeline line has an id or a code in it: %q", w, r[2])
			}
		}
		tl := amhp.text("#ep-timeline")
		for _, want := range []string{"health-based place of safety", "accepted the offer of a Mental Health Act assessment", "not admitted"} {
			if !strings.Contains(tl, want) {
				t.Errorf("%s: the timeline does not say %q:\n%s", w, want, tl)
			}
		}
		if strings.Contains(amhp.text("#ep-risks"), "threatening to jump") {
			t.Errorf("%s: the question asked for advice is listed under Risks", w)
		}
		amhp.noSideways(w + " episode timeline")
	}
}

func (p *person) attr(sel, name string) string {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "read "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}
