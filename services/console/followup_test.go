package console_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// startSystemWithClock runs all of crisisbus on a clock the test moves, and
// returns the console's URL and a send function for the agencies' commands
// (what an agency's own system would send).
func startSystemWithClock(t *testing.T, c *clock) (string, func(a events.Agency, command string, req, resp any)) {
	t.Helper()
	return startSystemOn(t, c.Now)
}

// startSystemOn runs all of crisisbus with the time now gives, and returns
// the console's URL and a send function for the agencies' commands.
func startSystemOn(t *testing.T, now func() time.Time) (string, func(a events.Agency, command string, req, resp any)) {
	t.Helper()
	sys, err := system.Start(t.Context(), system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Now: now, Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	bus, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	send := func(a events.Agency, command string, req, resp any) {
		t.Helper()
		out, err := rpc.Call[any, json.RawMessage](context.Background(), bus.Conn(), agency.Subject(a, command), req)
		if err != nil {
			t.Fatalf("%s %s: %v", a, command, err)
		}
		if resp != nil {
			if err := json.Unmarshal(out, resp); err != nil {
				t.Fatalf("%s %s: decode the reply: %v", a, command, err)
			}
		}
	}
	u := sys.PageURL("console")
	if u == "" {
		t.Fatalf("no console among %v", sys.URLs)
	}
	return u, send
}

// The helpline follows Daniel up after an assessment that did not admit
// him; on the first call his risk has risen, and the helpline escalates to
// SPoA, who takes the episode on. The remaining calls are still the
// helpline's: on its list, with the form to record them, and SPoA's card
// says who makes them.
func TestAfterSPoATakesTheEscalationOnTheHelplineStillMakesTheRemainingCalls(t *testing.T) {
	days := newClock()
	base, send := startSystemWithClock(t, days)
	browser := browsertest.New(t)

	// The AMHP service assessed Daniel and did not admit him: the helpline
	// is offered the follow-up.
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hughes", Channel: "999", Summary: "Man on Rochester bridge",
		Person: &events.PersonIdentified{GivenName: "Daniel", FamilyName: "Brook"}}, &opened)
	ep := opened.Episode
	var offer agency.OfferResponse
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: agency.Base{Episode: ep, Actor: "PC 4471 Hughes"}, Kind: events.MHAAssessment,
		To: events.AMHP, Reason: "assessment needed", Urgency: "emergency"}, &offer)
	send(events.AMHP, "handoff.accept", agency.HandoffRequest{Base: agency.Base{Episode: ep, Actor: "AMHP Sarah Okafor"}, HandoffID: offer.HandoffID}, nil)
	send(events.AMHP, "outcome", amhp.OutcomeRequest{Base: agency.Base{Episode: ep, Actor: "AMHP Sarah Okafor"}, Outcome: "not_admitted",
		CompletedAt: days.Now(), Notes: "safety plan with his sister"}, nil)

	helpline := signIn(t, browser, base, "helpline.worker", "crisisbus-crisisline")
	helpline.waitFor("the offer on the helpline's list", 10*time.Second, func(main string) bool { return strings.Contains(main, "Daniel Brook") })
	helpline.do("accept the follow-up", chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)))
	helpline.flash("Accepted")
	episodeURL := browsertest.Get(t, helpline.tab, "url", chromedp.Location())

	// The next day: call 1 is due, and the form offers it.
	days.advance(24*time.Hour + time.Minute)
	helpline = signIn(t, browser, base, "helpline.worker", "crisisbus-crisisline")
	// Choosing call 3 by mistake: warned, nothing recorded; at a desk and
	// on a phone.
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		helpline.do("open the episode", chromedp.EmulateViewport(width, 900), chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#contact-contactNumber")))
		if got := helpline.chosen("#contact-contactNumber"); got != "1" {
			t.Fatalf("%s: which call offers call %q first, want call 1 (the one due)", w, got)
		}
		helpline.do("record call 3 by mistake",
			choose("#contact-contactNumber", "3"),
			choose("#contact-outcome", "spoke"),
			chromedp.Click(chromedp.CSS(`form[action$="/contact"] button`)),
			chromedp.WaitVisible(chromedp.CSS(".error-summary")))
		if e := helpline.text("#contact-contactNumber-error"); !strings.Contains(e, "Call 3 is due on") || !strings.Contains(e, "not today") {
			t.Fatalf("%s: recording call 3 on day 1 warns %q", w, e)
		}
		if calls := helpline.text("#followup-calls"); strings.Count(calls, "not yet made") != 4 {
			t.Fatalf("%s: the mistaken call was recorded: %q", w, calls)
		}
		helpline.noSideways(w + " call 3 warned")
		browsertest.Screenshot(t, helpline.tab, "call-3-before-its-day-"+w)
	}
	helpline.do("record call 1",
		choose("#contact-contactNumber", "1"),
		choose("#contact-outcome", "spoke"),
		choose("#contact-risk", "high"),
		chromedp.SendKeys(chromedp.CSS("#contact-notes"), "Has written notes to his family; sister away"),
		chromedp.Click(chromedp.CSS(`form[action$="/contact"] button`)))
	helpline.flash("Call recorded")
	helpline.do("escalate to SPoA",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/escalate"]) > summary`)),
		choose("#escalate-risk", "high"),
		chromedp.SendKeys(chromedp.CSS("#escalate-reason"), "Suicidal plan on the day 1 call; his sister is away"),
		chromedp.Click(chromedp.CSS(`form[action$="/escalate"] button`)))
	helpline.flash("Escalated")

	spoa := signIn(t, browser, base, "spoa.clinician", "crisisbus-spoa")
	spoa.waitFor("the referral in SPoA's inbox", 10*time.Second, func(main string) bool { return strings.Contains(main, "Daniel Brook") })
	spoa.do("accept the referral", chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)))
	spoa.flash("Accepted")

	helplineTitle := events.Crisisline.Title()
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		// The helpline's list still holds Daniel, with the 3 calls left.
		helpline.do("look at the list", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"))
		helpline.waitFor("Daniel on the helpline's list", 10*time.Second, func(main string) bool {
			return strings.Contains(main, "Daniel Brook") && strings.Count(main, "Call due") == 3
		})
		if card := helpline.text(".card"); !strings.Contains(card, events.SPoA.Title()) {
			t.Errorf("%s: the helpline's card does not say SPoA holds the episode: %q", w, card)
		}
		browsertest.Screenshot(t, helpline.tab, "helpline-list-after-escalation-"+w)
		// SPoA's card says who makes them.
		spoa.do("look at the inbox", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/"))
		spoa.waitFor("Daniel on SPoA's list", 10*time.Second, func(main string) bool { return strings.Contains(main, "Daniel Brook") })
		if by := spoa.text(".card .followup-by"); !strings.Contains(by, "made by "+helplineTitle) || !strings.Contains(by, "3 left") {
			t.Errorf("%s: SPoA's card says of the calls %q", w, by)
		}
		if card := spoa.text(".card"); strings.Contains(card, "Call due") {
			t.Errorf("%s: SPoA's card shows the helpline's calls as due for SPoA: %q", w, card)
		}
		browsertest.Screenshot(t, spoa.tab, "spoa-card-after-escalation-"+w)
	}
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		spoa.do("open the episode", chromedp.EmulateViewport(width, 900), chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#followup-calls")))
		if caption := spoa.text("#followup-calls caption"); !strings.Contains(caption, "made by "+helplineTitle) {
			t.Errorf("%s: SPoA's episode page says of the calls %q", w, caption)
		}
		if n := spoa.count(`form[action$="/contact"]`); n != 0 {
			t.Errorf("%s: SPoA is offered %d forms to record the helpline's calls", w, n)
		}
		spoa.noSideways(w + " SPoA's episode")
		browsertest.Screenshot(t, spoa.tab, "spoa-episode-calls-"+w)
	}

	// The next day the helpline records call 2 from the episode, which is SPoA's.
	days.advance(24 * time.Hour)
	helpline = signIn(t, browser, base, "helpline.worker", "crisisbus-crisisline")
	helpline.do("open the episode", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#contact-contactNumber")))
	if got := helpline.chosen("#contact-contactNumber"); got != "2" {
		t.Fatalf("which call offers call %q first, want call 2", got)
	}
	if caption := helpline.text("#followup-calls caption"); !strings.Contains(caption, "made by "+helplineTitle+" (you)") {
		t.Errorf("the helpline's episode page says of the calls %q", caption)
	}
	helpline.do("record call 2",
		choose("#contact-outcome", "spoke"),
		choose("#contact-risk", "medium"),
		chromedp.Click(chromedp.CSS(`form[action$="/contact"] button`)))
	helpline.flash("Call recorded")
	browsertest.Screenshot(t, helpline.tab, "call-2-recorded-on-spoas-episode")
	if calls := helpline.text("#followup-calls"); strings.Count(calls, "not yet made") != 2 {
		t.Fatalf("after call 2 the calls read %q, want 2 not yet made", calls)
	}
	spoa = signIn(t, browser, base, "spoa.clinician", "crisisbus-spoa")
	spoa.waitFor("two calls left on SPoA's card", 10*time.Second, func(main string) bool { return strings.Contains(main, "2 left") })
}
