package console_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// A 5,000-character session cookie, and a signed-in person asking for
// /episodes/<5,000 characters>, each took the console (and the record) off
// the bus. Now the cookie is no session (the person is sent to sign in) and
// the episode is not found, and the console goes on: the next person signs
// in and raises a triage request as usual.
func TestA5000CharacterCookieOrEpisodeIDLeavesTheConsoleWorking(t *testing.T) {
	base := startSystem(t)
	long := strings.Repeat("A", 5000)

	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest(http.MethodGet, base+"/", nil)
		req.AddCookie(&http.Cookie{Name: "crisisbus_session", Value: long})
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
			t.Fatalf("a 5,000-character session cookie: %s to %q, want 303 to the sign-in page", resp.Status, loc)
		}
	}

	browser := browsertest.New(t)
	amhp := signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
	amhp.do("ask for an episode with a 5,000-character id", chromedp.Navigate(base+"/episodes/"+long))
	if body := amhp.text("body"); !strings.Contains(body, "There is no episode") {
		t.Fatalf("/episodes/<5,000 characters> says %q, want that there is no such episode", body[:min(len(body), 200)])
	}

	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("raise a triage request",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Woman on the station footbridge, says she cannot go on"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Chatham station footbridge"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is she known to services?"),
		chromedp.SetValue(chromedp.CSS("#triage-risk"), "high"),
		chromedp.SendKeys(chromedp.CSS("#triage-ownWords"), "Call my friend Sam."),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if w := handler.text(".own-words"); !strings.Contains(w, "Call my friend Sam") {
		t.Fatalf("the episode page after the triage request shows %q, want the person's own words", w)
	}
	// The AMHP's worklist still loads too.
	amhp.do("open the worklist", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(".header-user")))
}
