package console_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/console"
)

// An open page's live updates last only as long as the session that
// opened them. Signed out in another tab, idle past the limit while the
// page sits open, or disabled in the users file: the stream says
// "signedout" and ends, and the page is told nothing of what happens
// after (not even the ids of new episodes).
func TestAnOpenPageIsToldNothingMoreOnceItsPersonIsSignedOut(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	hash, err := console.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	users := console.UsersFile{Users: []console.User{{Username: "s.ashby", Name: "Sam Ashby", Agency: events.Police, Role: "Control room", Hash: hash}}}
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	b := bustest.Start(t, "")
	nc := bustest.Conn(t, b, events.Agency(broker.Console))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := console.Start(ctx, nc, console.WithLivePing(console.Config{Addr: "127.0.0.1:0", UsersFile: file, Now: clk.Now}, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	police := bustest.Bus(t, b, events.Police)
	opened := func() string {
		t.Helper()
		ep := events.NewEpisodeID()
		e, err := events.New(events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "man on the bridge"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := police.Publish(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		return ep
	}

	for _, end := range []struct {
		name string
		do   func(a *attacker)
		// tell: an episode opened right after the session ended, which
		// the stream must not tell of; otherwise the stream notices at
		// its next ping, with nothing happening.
		tell bool
	}{
		{"signed out in another tab", func(a *attacker) {
			_, page := fetch(t, a.client, c.URL()+"/")
			m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no form token on the worklist: %s", page)
			}
			resp, err := a.client.PostForm(c.URL()+"/signout", url.Values{"csrf": {m[1]}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}, true},
		{"idle past the limit, telling of a new episode", func(*attacker) { clk.advance(console.DefaultIdleTimeout + time.Minute) }, true},
		{"idle past the limit, nothing happening", func(*attacker) { clk.advance(console.DefaultIdleTimeout + time.Minute) }, false},
		{"disabled", func(*attacker) {
			users.Users[0].Disabled = true
			if err := console.WriteUsersFile(file, users); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		a := newAttacker(t, c.URL(), "")
		if code, body := a.try("s.ashby", "correct horse battery"); code != http.StatusSeeOther {
			t.Fatalf("%s: signing in: %d %s", end.name, code, body)
		}
		req, _ := http.NewRequest(http.MethodGet, c.URL()+"/live", nil)
		live, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if live.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET /live: %s", end.name, live.Status)
		}
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(live.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// next reads the stream until a line holding want, or its end ("").
		next := func(want string, within time.Duration) string {
			t.Helper()
			deadline := time.After(within)
			for {
				select {
				case l, ok := <-lines:
					if !ok || strings.Contains(l, want) {
						return l
					}
				case <-deadline:
					t.Fatalf("%s: the stream sent no %q within %s", end.name, want, within)
				}
			}
		}
		// Signed in, the page hears of a new episode.
		if ep := opened(); next(ep, 5*time.Second) == "" {
			t.Fatalf("%s: the stream ended while signed in", end.name)
		}

		end.do(a)
		var after string
		if end.tell {
			after = opened()
		}
		if l := next("signedout", 5*time.Second); l != "event: signedout" {
			t.Fatalf("%s: the stream ended without saying the person was signed out", end.name)
		}
		ended := time.After(5 * time.Second)
	rest:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break rest
				}
				if after != "" && strings.Contains(l, after) || strings.HasPrefix(l, "event: changed") {
					t.Errorf("%s: after the session ended the stream sent %q", end.name, l)
				}
			case <-ended:
				t.Fatalf("%s: the stream said signed out and went on for 5 s", end.name)
			}
		}
		live.Body.Close()
	}
}

// In the browser: a page left open past the idle limit says the person has
// been signed out and the page is no longer updated, keeps what was typed
// on it (it is not reloaded) and stops asking for live updates.
func TestAPageLeftOpenPastTheIdleLimitSaysItsPersonIsSignedOutAndKeepsWhatWasTyped(t *testing.T) {
	clk := newClock()
	c, _ := startConsoleWith(t, console.WithLivePing(console.Config{Now: clk.Now}, 200*time.Millisecond))
	browser := browsertest.New(t)
	handler := signIn(t, browser, c.URL(), "police.handler", "crisisbus-police")
	handler.do("start typing a search", chromedp.Navigate(c.URL()+"/find"), chromedp.WaitVisible(chromedp.CSS("#find-term")),
		chromedp.SendKeys(chromedp.CSS("#find-term"), "Ashford"), chromedp.Sleep(500*time.Millisecond))
	handler.markPage()

	clk.advance(console.DefaultIdleTimeout + time.Minute)
	handler.do("wait for the notice", chromedp.WaitVisible(chromedp.CSS("#live-notice")))
	if msg := handler.text("#live-notice"); !strings.Contains(msg, "You have been signed out") || !strings.Contains(msg, "reload the page to sign in again") {
		t.Errorf("the notice reads %q", msg)
	}
	if !handler.notReloaded() {
		t.Error("the page was reloaded")
	}
	if typed := browsertest.Get(t, handler.tab, "what was typed", chromedp.Value(chromedp.CSS("#find-term"))); typed != "Ashford" {
		t.Errorf("the search field holds %q, want what was typed", typed)
	}
	browsertest.Screenshot(t, handler.tab, "live-signed-out")
	asked := func() int {
		return browsertest.Get(t, handler.tab, "requests for /live", chromedp.Evaluate[int](
			`performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname === "/live").length`))
	}
	n := asked()
	time.Sleep(6 * time.Second) // a stream that dropped is asked for again after 5 s
	if again := asked(); again != n {
		t.Errorf("signed out, the page asked for live updates %d more times", again-n)
	}
}
