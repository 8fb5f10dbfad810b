package console_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// A 5,000-character session cookie, and a signed-in person asking for
// /episodes/<5,000 characters>, each took the console (and the record) off
// the bus. Now each is refused before anything reaches NATS, saying what is
// wrong (the cookie is cleared), and the console goes on: the next person
// signs in and raises a triage request as usual.
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
		cleared := slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.Name == "crisisbus_session" && c.MaxAge < 0 })
		if resp.StatusCode != http.StatusBadRequest || !cleared {
			t.Fatalf("a 5,000-character session cookie: %s (cookie cleared: %v), want 400 and the cookie cleared", resp.Status, cleared)
		}
	}

	browser := browsertest.New(t)
	amhp := signIn(t, browser, base, "amhp.duty", "crisisbus-amhp")
	amhp.do("ask for an episode with a 5,000-character id", chromedp.Navigate(base+"/episodes/"+long))
	if body := amhp.text("body"); !strings.Contains(body, "characters long") {
		t.Fatalf("/episodes/<5,000 characters> says %q, want that it is too long", body[:min(len(body), 200)])
	}

	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("raise a triage request",
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Woman on the station footbridge, says she cannot go on"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "Chatham station footbridge"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is she known to services?"),
		choose("#triage-risk", "high"),
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
