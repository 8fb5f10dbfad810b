package console_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
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
		if c := amhp.attr(".card time.clock", "class"); !strings.Contains(c, "tag--green") {
			t.Errorf("%s: with 24 hours left the s136 clock is %q, want a green tag", w, c)
		}
		browsertest.Screenshot(t, amhp.tab, "amhp-queue-tags-"+w)
	}

	// 22 hours on: within the last two hours, the clock is a yellow tag
	// that says so, as the page counts it down.
	days.advance(22*time.Hour + 5*time.Minute)
	amhp = signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
	amhp.waitFor("Tomasz in the queue", 10*time.Second, func(main string) bool { return strings.Contains(main, "Tomasz Nowak") })
	time.Sleep(1100 * time.Millisecond) // one tick of the page's countdown
	if c, text := amhp.attr(".card time.clock", "class"), amhp.text(".card time.clock"); !strings.Contains(c, "tag--yellow") || !strings.Contains(text, "due soon") {
		t.Errorf("with under 2 hours left the s136 clock is %q reading %q, want a yellow tag saying it is due soon", c, text)
	}
	browsertest.Screenshot(t, amhp.tab, "amhp-queue-clock-due-soon")

	cardRef := amhp.text(".card .reference")
	amhp.do("accept the assessment", chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)))
	amhp.flash("Accepted")
	episodeURL := browsertest.Get(t, amhp.tab, "url", chromedp.Location())
	amhp.do("record not admitted",
		chromedp.Click(chromedp.CSS("#outcome > summary")),
		choose("#outcome-outcome", "not_admitted"),
		chromedp.Click(chromedp.CSS(`form[action$="/outcome"] button`)))
	amhp.flash("The helpline has been offered 4 days of follow-up calls")
	amhp.do("back to the queue", chromedp.Navigate(base+"/"))
	amhp.waitFor("Tomasz gone from the queue", 10*time.Second, func(main string) bool { return !strings.Contains(main, "Tomasz Nowak") })
	browsertest.Screenshot(t, amhp.tab, "amhp-queue-after-not-admitted")

	// The episode page: a reference to read over the phone, the same as
	// on the card, and a timeline in words with London times.
	amhp.do("open the episode", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	browsertest.Screenshot(t, amhp.tab, "episode-timeline-in-words")
	ref := amhp.text("#ep-ref .reference")
	if !regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4} [0-9A-HJKMNP-TV-Z]{4}$`).MatchString(ref) || ref != strings.TrimSpace(cardRef) {
		t.Errorf("the episode's reference reads %q (the card's %q), want eight letters and digits in two groups, the same on both", ref, cardRef)
	}
	uuid := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`)
	code := regexp.MustCompile(`\b[a-z0-9]+_[a-z0-9_]+\b`)
	when := regexp.MustCompile(`^((today|yesterday) \d\d:\d\d|[A-Z][a-z]{2} \d{1,2} [A-Z][a-z]{2} \d\d:\d\d)$`)
	rows := browsertest.Get(t, amhp.tab, "read the timeline", chromedp.Evaluate[[][]string](
		`[...document.querySelectorAll("#timeline tbody tr")].map(r => [...r.cells].map(c => c.textContent.trim()))`))
	if len(rows) < 8 {
		t.Fatalf("the timeline has %d rows", len(rows))
	}
	for _, r := range rows {
		if !when.MatchString(r[0]) {
			t.Errorf("a timeline time reads %q, want \"today 19:23\" or a day and time", r[0])
		}
		if uuid.MatchString(r[2]) || code.MatchString(r[2]) {
			t.Errorf("a timeline line has an id or a code in it: %q", r[2])
		}
	}
	tl := amhp.text("#ep-timeline")
	for _, want := range []string{"health-based place of safety", "accepted the offer of a Mental Health Act assessment", "not admitted"} {
		if !strings.Contains(tl, want) {
			t.Errorf("the timeline does not say %q:\n%s", want, tl)
		}
	}
}

func (p *person) attr(sel, name string) string {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "read "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name)).Value
}
