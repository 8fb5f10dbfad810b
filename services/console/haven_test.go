package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// startSystemAt runs all of crisisbus with its clock moved to the given
// London time of today, running on from there.
func startSystemAt(t *testing.T, hh, mm int) string {
	t.Helper()
	base, _ := startSystemAtWithSend(t, hh, mm)
	return base
}

// 20:00. The control room refers a man to the safe haven from the episode
// page; the haven worker sees the referral on the haven's worklist, accepts
// it, records his arrival (brought by police), the support given with a
// plan in his words, and that he went home. The control room's page shows
// how it ended. Later a 16-year-old walks in: the haven's page says in
// words that the haven is for adults and where she can go now.
func TestTheSafeHavensPagesTakeAReferralRecordAVisitAndTurnAwayA16YearOld(t *testing.T) {
	base := startSystemAt(t, 20, 0)
	browser := browsertest.New(t)

	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("raise a triage request",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Man on Ramsgate harbour wall, legs over the edge"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Ramsgate harbour"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Street triage advise the haven rather than s136?"),
		chromedp.SendKeys(chromedp.CSS("#triage-givenName"), "Dan"),
		chromedp.SendKeys(chromedp.CSS("#triage-familyName"), "Kerr"),
		chromedp.SendKeys(chromedp.CSS("#triage-ownWords"), "I just need to talk to someone tonight."),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
	)
	handler.flash("Triage request raised")
	episodeURL := strings.SplitN(browsertest.Get(t, handler.tab, "url", chromedp.Location()), "?", 2)[0]
	handler.do("refer him to the safe haven",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/offer"]) > summary`)),
		choose("#offer-to", "safehaven"),
		choose("#offer-kind", "safe_haven_referral"),
		choose("#offer-urgency", "urgent"),
		chromedp.SendKeys(chromedp.CSS("#offer-reason"), "Bringing him to the Margate haven instead of s136"),
		chromedp.Click(chromedp.CSS(`form[action$="/offer"] button`)),
	)
	handler.flash("Offered to Safe haven")

	haven := signIn(t, browser, base, "haven.worker", "crisisbus-safehaven")
	if h := haven.text("main h1"); h != "Safe haven tonight" {
		t.Fatalf("the haven's worklist is titled %q", h)
	}
	haven.waitFor("the referral on the haven's worklist", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Dan Kerr") && strings.Contains(main, "safe haven referral from Police control room")
	})
	browsertest.Screenshot(t, haven.tab, "haven-1-worklist")
	haven.do("accept the referral", chromedp.Click(chromedp.CSS(`.card form[action$="/accept"] button`)))
	haven.flash("Accepted")
	if words := haven.text(".own-words"); !strings.Contains(words, "I just need to talk to someone tonight.") {
		t.Fatalf("the haven does not see his own words first: %q", words)
	}
	haven.do("record his arrival",
		choose("#haven-arrive-haven", "haven-margate"),
		chromedp.Click(chromedp.CSS(`form[action$="/haven-arrive"] button`)),
	)
	haven.flash("Arrival recorded")
	if visit := haven.text("#haven-visit"); !strings.Contains(visit, "At Thanet Safe Haven, Margate") || !strings.Contains(visit, "brought by police") {
		t.Fatalf("the visit reads %q", visit)
	}
	haven.do("record support with nothing ticked", chromedp.Click(chromedp.CSS(`form[action$="/haven-support"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	if msg := haven.text("#haven-support-support"); !strings.Contains(msg, "Choose the support given") {
		t.Fatalf("an empty support form says %q", msg)
	}
	const plan = "Stay at my brother's tonight and ring the crisis line if it gets bad"
	haven.do("record the support",
		chromedp.Click(chromedp.CSS(`input[name=support][value=de_escalation]`)),
		chromedp.Click(chromedp.CSS(`input[name=support][value=plan_made]`)),
		chromedp.SendKeys(chromedp.CSS("#haven-support-plan"), plan),
		chromedp.Click(chromedp.CSS(`form[action$="/haven-support"] button`)),
	)
	haven.flash("Support recorded")
	if visit := haven.text("#haven-visit"); !strings.Contains(visit, "Support: de escalation, plan made") || !strings.Contains(visit, plan) {
		t.Fatalf("the visit reads %q", visit)
	}
	if strings.Contains(haven.html(), "Clinical record") {
		t.Fatal("the haven's page shows a clinical record")
	}
	browsertest.Screenshot(t, haven.tab, "haven-2-visit")
	haven.do("record that he went home",
		chromedp.Click(chromedp.CSS(`details:has(form[action$="/haven-leave"]) > summary`)),
		choose("#haven-leave-outcome", "went_home"),
		chromedp.SendKeys(chromedp.CSS("#haven-leave-detail"), "his brother collected him"),
		chromedp.Click(chromedp.CSS(`form[action$="/haven-leave"] input[name=closeEpisode]`)),
		chromedp.Click(chromedp.CSS(`form[action$="/haven-leave"] button`)),
	)
	haven.flash("Recorded that they left")

	handler.do("open the episode again", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
	handler.waitFor("how the visit ended on the control room's page", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Left the safe haven") && strings.Contains(main, "went home: his brother collected him")
	})
	browsertest.Screenshot(t, handler.tab, "haven-3-police")

	haven.do("go to the worklist", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#worklist")))
	haven.do("record a 16-year-old walking in",
		choose("#haven-walkin-haven", "haven-margate"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-summary"), "came in on her own after a row at home"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-ageYears"), "16"),
		chromedp.SendKeys(chromedp.CSS("#haven-walkin-ownWords"), "I can't go home tonight."),
		chromedp.Click(chromedp.CSS(`form[action="/new/haven-walkin"] button`)),
	)
	haven.flash("Walk-in recorded")
	told := haven.text("#haven-not-taken")
	for _, want := range []string{"Not taken in.", "Thanet Safe Haven is for people aged 18 and over, and the person is 16", "Where they can go now:", "Medway Maritime Hospital"} {
		if !strings.Contains(told, want) {
			t.Errorf("the haven's page does not say %q: %q", want, told)
		}
	}
	browsertest.Screenshot(t, haven.tab, "haven-4-under-18")
}
