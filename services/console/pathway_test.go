package console_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
)

// startSystem runs all of crisisbus, console included, and returns the console's URL.
func startSystem(t *testing.T) string {
	t.Helper()
	// The context bounds the services' lives, not just their start.
	sys, err := system.Start(t.Context(), system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	u := sys.PageURL("console")
	if u == "" {
		t.Fatalf("no console among %v", sys.URLs)
	}
	return u
}

// person is one of the people at work, in their own browser tab.
type person struct {
	t    *testing.T
	tab  context.Context
	base string
}

func signIn(t *testing.T, browser context.Context, base, username, password string) *person {
	p := &person{t: t, tab: browsertest.NewTab(t, browser), base: base}
	browsertest.Do(t, p.tab, "sign in as "+username,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), username),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".header-user")),
	)
	return p
}

func (p *person) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	browsertest.Do(p.t, p.tab, what, steps...)
}

func (p *person) text(sel string) string {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (p *person) html() string {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "read the page", chromedp.OuterHTML(chromedp.CSS("html")))
}

// flash waits until the page confirms what was done (the green box after a
// form is stored) with words containing want.
func (p *person) flash(want string) {
	p.t.Helper()
	var got string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got, _ = chromedp.Run(p.tab, chromedp.Evaluate[string](`(document.querySelector(".flash")||{}).textContent||""`))
		if strings.Contains(got, want) {
			return
		}
	}
	browsertest.Screenshot(p.t, p.tab, "FAILED-waiting-for-"+strings.Fields(want)[0])
	p.t.Fatalf("the page confirms %q, want %q", strings.TrimSpace(got), want)
}

// markPage sets a marker that a reload would lose, so a test can tell a
// live update from a reload.
func (p *person) markPage() {
	p.t.Helper()
	browsertest.Get(p.t, p.tab, "mark the page", chromedp.Evaluate[bool]("window.__notReloaded = true"))
}

func (p *person) notReloaded() bool {
	p.t.Helper()
	return browsertest.Get(p.t, p.tab, "check the mark", chromedp.Evaluate[bool]("window.__notReloaded === true"))
}

// waitFor polls the page until cond holds for its main text.
func (p *person) waitFor(what string, total time.Duration, cond func(main string) bool) {
	p.t.Helper()
	bustest.CheckFor(p.t, total, 50*time.Millisecond, func() error {
		// The page may be between two loads: try again rather than fail.
		read, cancel := context.WithTimeout(p.tab, 2*time.Second)
		defer cancel()
		main, err := chromedp.Run(read, chromedp.Text(chromedp.CSS("main")))
		if err != nil {
			return err
		}
		if !cond(main) {
			return fmt.Errorf("%s: not yet; the page says:\n%s", what, main)
		}
		return nil
	})
}

func TestControlRoomToAMHPToHelplineInTheConsole(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)

	amhp := signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
	amhp.markPage()
	helpline := signIn(t, browser, base, "helpline.worker", "crisisbus-crisisline")

	// (1) The call handler raises a triage request mid-call.
	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("raise a triage request",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Man on the outside of the railings of Rochester bridge, says he has had enough"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Rochester bridge, east side"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is he known to services? Should we use s136?"),
		choose("#triage-risk", "high"),
		chromedp.SendKeys(chromedp.CSS("#triage-givenName"), "Daniel"),
		chromedp.SendKeys(chromedp.CSS("#triage-familyName"), "Brook"),
		chromedp.SendKeys(chromedp.CSS("#triage-ownWords"), "Ring my sister Jo. Please don't take me to A&E."),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	browsertest.Screenshot(t, handler.tab, "1-control-room-episode")
	if w := handler.text(".own-words"); !strings.Contains(w, "Ring my sister Jo") {
		t.Fatalf("the person's own words are not first on the episode page: %q", w)
	}
	episodeURL := browsertest.Get(t, handler.tab, "url", chromedp.Location())
	if strings.Contains(episodeURL, "done=") {
		t.Fatalf("the confirmation stays in the address: %s", episodeURL)
	}
	handler.markPage()

	// The control-room mental health worker gives advice from the same episode.
	mhw := signIn(t, browser, base, "police.mhw", "crisisbus-police")
	mhw.do("give advice",
		chromedp.Navigate(episodeURL),
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/advice"]) > summary`)),
		chromedp.SendKeys(chromedp.CSS("#advice-advice"), "Known to the Medway CMHT. Use s136 to the health-based place of safety if he will not come away."),
		choose("#advice-recommendedAction", "consider_s136"),
		chromedp.Click(chromedp.CSS(`input[name=knownToServices]`)),
		chromedp.SendKeys(chromedp.CSS("#advice-healthHistory"), "Bipolar disorder; lithium; admitted 2024"),
		chromedp.Click(chromedp.CSS(`form[action$="/advice"] button`)),
	)
	mhw.flash("Advice recorded")

	// ... and the advice appears on the call handler's page without a reload.
	handler.waitFor("advice on the call handler's page", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Known to the Medway CMHT")
	})
	if !handler.notReloaded() {
		t.Fatal("the call handler's page was reloaded to show the advice")
	}
	browsertest.Screenshot(t, handler.tab, "2-advice-arrived-live")
	whole, live := handler.liveShowsWhatAReloadShows("the call handler's episode page")
	t.Logf("the episode page refreshing itself is sent %d bytes; a reload, %d", live, whole)

	// The officer records the s136 detention at the place of safety and asks the AMHP service.
	handler.do("record the detention",
		chromedp.Click(chromedp.CSS("#detention > summary")),
		choose("#detain-practicable", "yes"),
		choose("#detain-professional", "nurse"),
		chromedp.SendKeys(chromedp.CSS("#detain-consultAdvice"), "Control-room nurse advised s136 to the suite"),
		choose("#detain-locationType", "public_place"),
		chromedp.SendKeys(chromedp.CSS("#detain-ageYears"), "34"),
		choose("#detain-placeType", "health_based_place_of_safety"),
		chromedp.SendKeys(chromedp.CSS("#detain-placeName"), "Medway s136 suite"),
		chromedp.Click(chromedp.CSS(`form[action$="/detain"] button`)),
	)
	handler.flash("The AMHP service has been asked for an assessment")
	detained := time.Now()

	// (2) The AMHP's queue shows it, live, with the 24-hour clock counting.
	amhp.waitFor("the detention in the AMHP queue", 10*time.Second, func(main string) bool { return strings.Contains(main, "Daniel Brook") })
	t.Logf("the AMHP queue showed the detention %s after the officer's page confirmed it", time.Since(detained).Round(time.Millisecond))
	if !amhp.notReloaded() {
		t.Fatal("the AMHP's queue was reloaded")
	}
	first := amhp.text(".card time.clock")
	if !strings.Contains(first, "left") || !strings.HasPrefix(first, "23 h") && !strings.HasPrefix(first, "24 h") {
		t.Fatalf("the s136 clock reads %q, want about 24 hours left", first)
	}
	bustest.CheckFor(t, 5*time.Second, 200*time.Millisecond, func() error {
		if now := amhp.text(".card time.clock"); now == first {
			return fmt.Errorf("the clock still reads %q", now)
		}
		return nil
	})
	browsertest.Screenshot(t, amhp.tab, "3-amhp-queue")
	amhp.liveShowsWhatAReloadShows("the AMHP's queue")
	amhp.do("accept the assessment",
		chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)),
	)
	amhp.flash("Accepted")
	if owner := amhp.text("#ep-status"); !strings.Contains(owner, "AMHP service (you)") {
		t.Fatalf("after accepting, the owner reads %q", owner)
	}
	if html := amhp.html(); !strings.Contains(html, "Clinical record") || !strings.Contains(html, "Bipolar disorder; lithium") {
		t.Fatal("the AMHP does not see the clinical record")
	}
	browsertest.Screenshot(t, amhp.tab, "4-amhp-episode")
	amhp.liveShowsWhatAReloadShows("the AMHP's episode page, with the clinical record")
	amhp.do("turn to a tablet", chromedp.EmulateViewport(820, 1180))
	browsertest.Screenshot(t, amhp.tab, "4b-amhp-episode-tablet")
	amhp.do("back to the desk", chromedp.EmulateViewport(1280, 800))

	// (3) Not admitted: the helpline's list shows the person, with calls due once accepted.
	amhp.do("record the outcome",
		chromedp.Click(chromedp.CSS("#outcome > summary")),
		choose("#outcome-outcome", "not_admitted"),
		chromedp.SendKeys(chromedp.CSS("#outcome-notes"), "No detainable illness today; safety plan with his sister"),
		chromedp.Click(chromedp.CSS(`form[action$="/outcome"] button`)),
	)
	amhp.flash("The helpline has been offered 4 days of follow-up calls")
	helpline.do("open the follow-up list", chromedp.Navigate(base+"/"))
	helpline.waitFor("the person on the helpline's list", 10*time.Second, func(main string) bool { return strings.Contains(main, "Daniel Brook") })
	helpline.do("accept the follow-up",
		chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)),
	)
	helpline.flash("Accepted")
	helpline.do("back to the list", chromedp.Navigate(base+"/"))
	helpline.waitFor("calls due", 10*time.Second, func(main string) bool { return strings.Count(main, "Call due") == 4 })
	browsertest.Screenshot(t, helpline.tab, "5-helpline-calls-due")

	// (4) The police mental health worker opens the episode: nothing clinical.
	mhw.do("open the episode again", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
	html := mhw.html()
	for _, clinical := range []string{"Clinical record", "Bipolar disorder", "lithium", "No detainable illness"} {
		if strings.Contains(html, clinical) {
			t.Errorf("the police view shows clinical content %q", clinical)
		}
	}
	if !strings.Contains(html, "Ring my sister Jo") {
		t.Error("the police view lacks the person's own words")
	}
	browsertest.Screenshot(t, mhw.tab, "6-police-view")
	mhw.do("open what the control room handed on", chromedp.Navigate(base+"/handed-on"), chromedp.WaitVisible(chromedp.CSS("#handedon")))
	if !strings.Contains(mhw.text("#handedon"), "Daniel Brook") {
		t.Errorf("the control room's handed-on list reads %q, want Daniel Brook", mhw.text("#handedon"))
	}
	mhw.liveShowsWhatAReloadShows("the control room's handed-on list")

	// The report page counts the assessment: one "not admitted" this month.
	month := time.Now().In(london).Format("2006-01")
	bustest.CheckFor(t, 10*time.Second, 200*time.Millisecond, func() error {
		amhp.do("open the reports", chromedp.Navigate(base+"/reports?from="+month+"&to="+month))
		row := browsertest.Get(t, amhp.tab, "read the s136 table", chromedp.Text(chromedp.CSS("#s136-table")))
		if !strings.Contains(row, "Not Admitted\t1") && !strings.Contains(row, "Not Admitted 1") {
			return fmt.Errorf("the s136 report reads %q", row)
		}
		return nil
	})
	browsertest.Screenshot(t, amhp.tab, "7-reports")
}

var london, _ = time.LoadLocation("Europe/London")

func TestAnInvalidFormShowsInlineErrorsAndKeepsWhatWasTyped(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)
	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")

	// Nothing typed in the caller's account.
	handler.do("submit without the caller's account",
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Margate seafront"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Teenager in distress"),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")),
	)
	browsertest.Screenshot(t, handler.tab, "triage-missing-account")
	if e := handler.text("#triage-callerAccount-error"); !strings.Contains(e, "Enter what the caller says is happening") {
		t.Errorf("inline error = %q", e)
	}
	if v := browsertest.Get(t, handler.tab, "kept", chromedp.Value(chromedp.CSS("#triage-location"))); v != "Margate seafront" {
		t.Errorf("location holds %q after the error", v)
	}

	// The law: a 16-year-old is never held in a police station.
	handler.do("raise it properly",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Girl of 16 on the harbour arm, distressed"),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
		chromedp.Click(chromedp.CSS("#detention > summary")),
		choose("#detain-practicable", "no"),
		chromedp.SendKeys(chromedp.CSS("#detain-consultAdvice"), "No one reachable in time"),
		choose("#detain-locationType", "public_place"),
		chromedp.SendKeys(chromedp.CSS("#detain-ageYears"), "16"),
		choose("#detain-placeType", "police_station"),
		chromedp.SendKeys(chromedp.CSS("#detain-placeName"), "Margate police station"),
		chromedp.Click(chromedp.CSS(`form[action$="/detain"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")),
	)
	browsertest.Screenshot(t, handler.tab, "under-18-police-station-refused")
	summary := handler.text(".error-summary")
	if !strings.Contains(summary, "s136A") {
		t.Errorf("the refusal does not cite s136A: %q", summary)
	}
	if v := browsertest.Get(t, handler.tab, "kept", chromedp.Value(chromedp.CSS("#detain-placeName"))); v != "Margate police station" {
		t.Errorf("place name holds %q after the refusal", v)
	}
}

// The ambulance EOC takes a call, does not convey, and refers the person to
// SPoA, whose inbox shows the referral; SPoA accepts and routes it.
func TestEOCRefersToSPoAWhoAcceptsAndRoutesInTheConsole(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)
	spoa := signIn(t, browser, base, "spoa.clinician", "crisisbus-spoa")
	spoa.markPage()

	eoc := signIn(t, browser, base, "eoc.mhw", "crisisbus-ambulance")
	eoc.do("record the call",
		chromedp.SendKeys(chromedp.CSS("#call-summary"), "Woman at home in Margate, low mood, took extra tablets an hour ago, now wants to talk to someone"),
		chromedp.SendKeys(chromedp.CSS("#call-location"), "Margate"),
		choose("#call-response", "hear_and_treat"),
		chromedp.SendKeys(chromedp.CSS("#call-givenName"), "Ruth"),
		chromedp.SendKeys(chromedp.CSS("#call-familyName"), "Ames"),
		chromedp.SendKeys(chromedp.CSS("#call-ownWords"), "I don't want to go to A&E again."),
		chromedp.Click(chromedp.CSS(`form[action="/new/call"] button`)),
	)
	eoc.flash("Call recorded")
	eoc.do("record not conveyed",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/conveyance"]) > summary`)),
		choose("#conveyance-conveyed", "no"),
		chromedp.SendKeys(chromedp.CSS("#conveyance-reason"), "No physical health concern after clinical triage; needs mental health follow-up tonight"),
		chromedp.Click(chromedp.CSS(`form[action$="/conveyance"] button`)),
	)
	eoc.flash("Conveyance recorded")
	eoc.do("refer to SPoA",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/offer"]) > summary`)),
		choose("#offer-to", "spoa"),
		choose("#offer-kind", "spoa_referral"),
		choose("#offer-urgency", "urgent"),
		chromedp.SendKeys(chromedp.CSS("#offer-reason"), "Not conveyed; please arrange crisis team contact tonight"),
		chromedp.Click(chromedp.CSS(`form[action$="/offer"] button`)),
	)
	eoc.flash("Offered to Single point of access")
	browsertest.Screenshot(t, eoc.tab, "1-eoc-episode")

	spoa.waitFor("the referral in SPoA's inbox", 10*time.Second, func(main string) bool { return strings.Contains(main, "Ruth Ames") })
	if !spoa.notReloaded() {
		t.Fatal("SPoA's inbox was reloaded")
	}
	browsertest.Screenshot(t, spoa.tab, "2-spoa-inbox")
	spoa.do("accept the referral", chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)))
	spoa.flash("Accepted")
	if words := spoa.text(".own-words"); !strings.Contains(words, "I don't want to go to A&E again.") {
		t.Fatalf("SPoA does not see the person's own words first: %q", words)
	}
	spoa.do("route to the crisis team",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/route"]) > summary`)),
		choose("#route-route", "crisis_team"),
		chromedp.SendKeys(chromedp.CSS("#route-detail"), "East Kent crisis resolution team, visit tonight"),
		chromedp.Click(chromedp.CSS(`form[action$="/route"] button`)),
	)
	spoa.flash("Routed")
	if tl := spoa.text("#ep-timeline"); !strings.Contains(tl, "crisis") {
		t.Fatalf("the routing is not on the timeline: %q", tl)
	}
	browsertest.Screenshot(t, spoa.tab, "3-spoa-routed")
}

// The EOC hears from the same person twice; SPoA, taking the second
// referral, is shown the first episode as the same person and links them.
func TestSPoALinksTwoEpisodesOfOnePersonInTheConsole(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)
	eoc := signIn(t, browser, base, "eoc.mhw", "crisisbus-ambulance")
	call := func(summary string) {
		eoc.do("open the call form", chromedp.Navigate(base+"/"), chromedp.WaitReady(chromedp.CSS(`form[action="/new/call"]`)))
		browsertest.Get(t, eoc.tab, "open the form", chromedp.Evaluate[bool](`document.querySelector('details:has(form[action="/new/call"])').open = true`))
		eoc.do("record a call",
			chromedp.SendKeys(chromedp.CSS("#call-summary"), summary),
			choose("#call-response", "hear_and_treat"),
			chromedp.SendKeys(chromedp.CSS("#call-givenName"), "Ruth"),
			chromedp.SendKeys(chromedp.CSS("#call-familyName"), "Ames"),
			chromedp.Click(chromedp.CSS(`form[action="/new/call"] button`)))
		eoc.flash("Call recorded")
		eoc.do("record her date of birth",
			chromedp.Click(chromedp.CSS(`details:has(form[action$="/identify"]) > summary`)),
			chromedp.SendKeys(chromedp.CSS("#identify-nhsNumber"), "943 476 5910"),
			chromedp.Click(chromedp.CSS(`form[action$="/identify"] button`)))
		eoc.waitFor("the check digit refused", 10*time.Second, func(main string) bool { return strings.Contains(main, "Enter a valid NHS number") })
		eoc.do("correct the number and add the date of birth",
			chromedp.Clear(chromedp.CSS("#identify-nhsNumber")),
			chromedp.SendKeys(chromedp.CSS("#identify-nhsNumber"), "943 476 5919"),
			chromedp.Click(chromedp.CSS(`form[action$="/identify"] button`)))
		eoc.flash("Identity recorded")
	}
	call("Ruth, low mood, wants to talk to someone")
	call("Ruth again, took extra tablets an hour ago")
	eoc.do("refer to SPoA",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/offer"]) > summary`)),
		choose("#offer-to", "spoa"),
		choose("#offer-kind", "spoa_referral"),
		chromedp.SendKeys(chromedp.CSS("#offer-reason"), "Second call tonight"),
		chromedp.Click(chromedp.CSS(`form[action$="/offer"] button`)))
	eoc.flash("Offered to Single point of access")

	spoa := signIn(t, browser, base, "spoa.clinician", "crisisbus-spoa")
	spoa.waitFor("the referral", 10*time.Second, func(main string) bool { return strings.Contains(main, "Ruth Ames") })
	spoa.do("accept", chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)))
	spoa.flash("Accepted")
	spoa.waitFor("the possible match", 10*time.Second, func(main string) bool { return strings.Contains(main, "Possibly the same person") })
	browsertest.Screenshot(t, spoa.tab, "1-possible-match")
	spoa.do("link",
		chromedp.Click(chromedp.CSS(`input[name=match]`)),
		chromedp.SendKeys(chromedp.CSS("#link-reason"), "Same NHS number; the EOC took both calls tonight"),
		chromedp.Click(chromedp.CSS(`form[action$="/link"] button`)))
	spoa.flash("Linked")
	if links := spoa.text("#ep-timeline"); !strings.Contains(links, "Linked episodes (the same person)") {
		t.Fatalf("no link on the episode: %q", links)
	}
}
