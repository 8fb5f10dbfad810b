package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/services/agency"
)

// 20:10. SPoA refers Lena, known to her care team, to the Maidstone haven.
// The haven worker's page shows no clinical record and offers no way to
// record her consent. Lena tells the SPoA clinician the haven may see what
// her care team wrote; the clinician records it on the episode page, and
// the haven's page then shows the clinical record. She changes her mind:
// recorded, and the haven's page no longer shows it.
func TestSPoARecordsLenasConsentAndTheHavenSeesHerClinicalRecordOnlyWhileItStands(t *testing.T) {
	base, send := startSystemAtWithSend(t, 20, 10)
	const history = "Known to the Maidstone CMHT; care plan agreed in October"
	var opened agency.OpenResponse
	send(events.SPoA, "open", agency.OpenRequest{Actor: "SPoA clinician", Channel: "111", Summary: "Lena rang: overwhelmed, cannot be alone tonight",
		Person: &events.PersonIdentified{GivenName: "Lena", FamilyName: "Marsh", AgeYears: 29}}, &opened)
	ep := opened.Episode
	send(events.SPoA, "triage.advice", agency.AdviceRequest{Base: agency.Base{Episode: ep, Actor: "SPoA clinician"},
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "somewhere calm tonight", KnownToServices: true, HealthHistory: history, RecommendedAction: "safe_haven"}}, nil)
	var offer agency.OfferResponse
	send(events.SPoA, "handoff.offer", agency.OfferRequest{Base: agency.Base{Episode: ep, Actor: "SPoA clinician"},
		Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "Maidstone haven tonight", Urgency: "urgent"}, &offer)
	browser := browsertest.New(t)
	episodeURL := base + "/episodes/" + ep

	haven := signIn(t, browser, base, "haven.worker", "crisisbus-safehaven")
	haven.do("open Lena's episode", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
	if html := haven.html(); strings.Contains(html, history) || strings.Contains(html, `action="/episodes/`+ep+`/consent"`) {
		t.Fatal("before Lena agreed, the haven's page shows her clinical record or a consent form")
	}

	spoa := signIn(t, browser, base, "spoa.clinician", "crisisbus-spoa")
	spoa.do("open Lena's episode", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")),
		chromedp.Click(chromedp.CSS("#consent > summary")))
	if c := spoa.text("#consent"); !strings.Contains(c, "Not shared") {
		t.Fatalf("SPoA's consent panel reads %q before Lena said anything", c)
	}
	spoa.do("record with nothing chosen",
		chromedp.Click(chromedp.CSS(`form[action$="/consent"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")))
	if msg := spoa.text("#consent-decision-error"); !strings.Contains(msg, "Choose what the person says") {
		t.Fatalf("an empty consent form says %q", msg)
	}
	spoa.do("record that Lena agrees",
		choose("#consent-decision", "given"),
		chromedp.SendKeys(chromedp.CSS("#consent-words"), "Yes, so I don't have to explain it all again"),
		chromedp.Click(chromedp.CSS(`form[action$="/consent"] button`)))
	spoa.flash("the safe haven now sees their clinical record")
	browsertest.Screenshot(t, spoa.tab, "consent-1-spoa")

	haven.reloadUntil(episodeURL, "main", history)
	browsertest.Screenshot(t, haven.tab, "consent-2-haven")

	spoa.do("record that Lena no longer agrees",
		chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")),
		chromedp.Click(chromedp.CSS("#consent > summary")),
		choose("#consent-decision", "withdrawn"),
		chromedp.Click(chromedp.CSS(`form[action$="/consent"] button`)))
	spoa.flash("no longer sees their clinical record")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		haven.do("open Lena's episode again", chromedp.Navigate(episodeURL), chromedp.WaitVisible(chromedp.CSS("#ep-timeline")))
		if !strings.Contains(haven.html(), history) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Lena withdrew her consent, but the haven's page still shows her clinical record")
		}
	}
}
