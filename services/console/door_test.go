package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/console"
)

// clock is a console's time, moved on by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// startConsoleWith runs the console alone on a real embedded server, and
// returns it with its own NATS connection.
func startConsoleWith(t *testing.T, cfg console.Config) (*console.Server, *nats.Conn) {
	t.Helper()
	b := bustest.Start(t, "")
	nc := bustest.Conn(t, b, events.Agency(broker.Console))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg.Addr = "127.0.0.1:0"
	c, err := console.Start(ctx, nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c, nc
}

// get fetches a page as a script would, with the cookie given.
func get(t *testing.T, u, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, html.UnescapeString(string(body))
}

// signInTab opens the sign-in page in a tab and signs in; it returns the tab.
func signInTab(t *testing.T, browser context.Context, base, next, username, password string) context.Context {
	t.Helper()
	tab := browsertest.NewTab(t, browser)
	u := base + "/signin"
	if next != "" {
		u += "?next=" + url.QueryEscape(next)
	}
	browsertest.Do(t, tab, "sign in as "+username,
		chromedp.Navigate(u),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), username),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
	)
	return tab
}

func waitHeader(t *testing.T, tab context.Context, want string) {
	t.Helper()
	browsertest.Do(t, tab, "wait for the header", chromedp.WaitVisible(chromedp.CSS(".header-user")))
	if who := browsertest.Get(t, tab, "header", chromedp.Text(chromedp.CSS(".header-user"))); !strings.Contains(who, want) {
		t.Fatalf("signed in as %q, want %s", who, want)
	}
}

func location(t *testing.T, tab context.Context) string {
	t.Helper()
	return browsertest.Get(t, tab, "location", chromedp.Location())
}

// (1) A session cookie of 5,000 characters was looked up as a key of the
// sessions bucket, and the server closed the console's connection. Every
// HTTP input is now bounded first, with a 400 saying what was too long.
func TestOverLongCookiePathAndQueryAreRefusedAndTheConsoleCarriesOn(t *testing.T) {
	c, nc := startConsoleWith(t, console.Config{})
	long := strings.Repeat("A", 5000)

	code, body := get(t, c.URL()+"/", "crisisbus_session="+long)
	if code != http.StatusBadRequest || !strings.Contains(body, "session cookie sent is 5000 characters long") {
		t.Fatalf("a 5,000-character session cookie: %d %q, want 400 saying how long it was", code, body)
	}
	code, body = get(t, c.URL()+"/episodes/"+strings.Repeat("9", 300), "")
	if code != http.StatusBadRequest || !strings.Contains(body, "page address is 310 characters long") {
		t.Fatalf("a 300-character episode id: %d %q", code, body)
	}
	code, body = get(t, c.URL()+"/signin?next="+strings.Repeat("x", 1500), "")
	if code != http.StatusBadRequest || !strings.Contains(body, `next= is 1500 characters long`) {
		t.Fatalf("a 1,500-character next: %d %q", code, body)
	}
	if !nc.IsConnected() {
		t.Fatalf("the console's NATS connection is %v after the over-long inputs", nc.Status())
	}

	// In the browser: the longest cookie it keeps is refused too, and
	// cleared, so signing in again just works.
	browser := browsertest.New(t)
	tab := browsertest.NewTab(t, browser)
	browsertest.Do(t, tab, "open the console", chromedp.Navigate(c.URL()+"/signin"), chromedp.WaitVisible(chromedp.CSS("#username")))
	set := browsertest.Get(t, tab, "put a 4,000-character session cookie in the browser",
		chromedp.Evaluate[int](`document.cookie = "crisisbus_session=`+strings.Repeat("B", 4000)+`; path=/"; document.cookie.length`))
	if set < 4000 {
		t.Fatalf("the browser kept a cookie of %d characters", set)
	}
	browsertest.Do(t, tab, "open the console with it", chromedp.Navigate(c.URL()+"/"), chromedp.WaitVisible(chromedp.CSS(".bad-request")))
	browsertest.Screenshot(t, tab, "over-long-cookie")
	if msg := browsertest.Get(t, tab, "message", chromedp.Text(chromedp.CSS(".bad-request"))); !strings.Contains(msg, "4000 characters long") || !strings.Contains(msg, "sign in again") {
		t.Fatalf("the page says %q", msg)
	}
	browsertest.Do(t, tab, "sign in after it",
		chromedp.Navigate(c.URL()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "amhp.duty"),
		chromedp.SendKeys(chromedp.CSS("#password"), "crisisbus-amhp"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
	)
	waitHeader(t, tab, "Jordan Taylor")

	// Signed in: an episode id that is no UUID, an over-long "after" and an
	// over-long form field are each refused, naming what is wrong.
	browsertest.Do(t, tab, "open a made-up episode id", chromedp.Navigate(c.URL()+"/episodes/"+strings.Repeat("e", 100)), chromedp.WaitVisible(chromedp.CSS(".bad-request")))
	if msg := browsertest.Get(t, tab, "message", chromedp.Text(chromedp.CSS(".bad-request"))); !strings.Contains(msg, "episode id in the address is 100 characters long") {
		t.Fatalf("the page says %q", msg)
	}
	browsertest.Do(t, tab, "an over-long after", chromedp.Navigate(c.URL()+"/episodes/"+events.NewEpisodeID()+"?after="+strings.Repeat("f", 200)), chromedp.WaitVisible(chromedp.CSS(".bad-request")))
	if msg := browsertest.Get(t, tab, "message", chromedp.Text(chromedp.CSS(".bad-request"))); !strings.Contains(msg, `"after" is not an event id`) {
		t.Fatalf("the page says %q", msg)
	}
	browsertest.Do(t, tab, "post an over-long form field",
		chromedp.Navigate(c.URL()+"/"),
		chromedp.WaitVisible(chromedp.CSS(".header-user")),
		chromedp.Evaluate[chromedp.Void](`(function(){var f=document.querySelector('form[action="/signout"]');f.action="/new/offer";var i=document.createElement("input");i.type="hidden";i.name="reason";i.value="r".repeat(20000);f.appendChild(i);f.submit();})()`),
		chromedp.WaitVisible(chromedp.CSS(".bad-request")),
	)
	if msg := browsertest.Get(t, tab, "message", chromedp.Text(chromedp.CSS(".bad-request"))); !strings.Contains(msg, `field "reason" is 20000 characters long`) {
		t.Fatalf("the page says %q", msg)
	}
	if !nc.IsConnected() {
		t.Fatalf("the console's NATS connection is %v", nc.Status())
	}
	// The journey goes on: the worklist loads.
	browsertest.Do(t, tab, "back to the worklist", chromedp.Navigate(c.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#worklist")))
	if main := browsertest.Get(t, tab, "worklist", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(main, "Assessment queue") {
		t.Fatalf("the worklist reads %q", main)
	}
}

// attacker signs in by script, as a password guesser would.
type attacker struct {
	t      *testing.T
	base   string
	client *http.Client
	addr   string // X-Forwarded-For, when the console is behind a proxy
}

func newAttacker(t *testing.T, base, addr string) *attacker {
	jar, _ := cookiejar.New(nil)
	return &attacker{t: t, base: base, addr: addr, client: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// try signs in as username with password, as a person at the sign-in page.
func (a *attacker) try(username, password string) (int, string) {
	a.t.Helper()
	form := a.ready()
	form.Set("username", username)
	form.Set("password", password)
	return a.signIn(form)
}

// ready fetches the sign-in page, so that try's later post needs no
// request first: guessers who fire together.
func (a *attacker) ready() url.Values {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.base+"/signin", nil)
	if a.addr != "" {
		req.Header.Set("X-Forwarded-For", a.addr)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(a.base + "/signin")
	for _, ck := range a.client.Jar.Cookies(u) {
		if ck.Name == "crisisbus_signin" {
			return url.Values{"csrf": {ck.Value}}
		}
	}
	a.t.Fatal("no sign-in token")
	return nil
}

// signIn posts the sign-in form (from ready) and returns the status and body.
// Guessers post from goroutines of their own, so a request that fails is
// reported with Error, not Fatal.
func (a *attacker) signIn(form url.Values) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, a.base+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.addr != "" {
		req.Header.Set("X-Forwarded-For", a.addr)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// (2) 320 wrong passwords, then the right one, used to sign in. Now failed
// sign-ins back off per username and address, per username and per
// address, without locking the real person out for long.
func TestPasswordGuessingIsThrottledWithoutLockingThePersonOutForLong(t *testing.T) {
	clk := newClock()
	core, logs := observer.New(zap.InfoLevel)
	c, _ := startConsoleWith(t, console.Config{Now: clk.Now, BehindProxy: true, Log: zap.New(core)})
	const guess = "Winter2026!guess"

	// A guesser elsewhere tries 320 passwords for the duty AMHP.
	elsewhere := newAttacker(t, c.URL(), "203.0.113.9")
	checked, refused := 0, 0
	start := time.Now()
	for i := range 320 {
		code, body := elsewhere.try("amhp.duty", fmt.Sprintf("%s%d", guess, i))
		switch {
		case code == http.StatusUnprocessableEntity && strings.Contains(body, "The username or password is not right"):
			checked++
		case code == http.StatusTooManyRequests && strings.Contains(body, "Too many failed sign-ins"):
			refused++
		default:
			t.Fatalf("guess %d: %d %s", i, code, body)
		}
	}
	t.Logf("320 guesses answered in %s (3 checked with bcrypt, 317 refused without)", time.Since(start).Round(time.Millisecond))
	if checked != 3 || refused != 317 {
		t.Fatalf("of 320 guesses %d were checked and %d refused; want 3 checked (then each must wait)", checked, refused)
	}
	// Even the right password is not checked while the guesser must wait.
	if code, body := elsewhere.try("amhp.duty", "crisisbus-amhp"); code != http.StatusTooManyRequests || !strings.Contains(body, "Wait") {
		t.Fatalf("the right password from the guesser's address: %d, want 429", code)
	}

	// Each wait past it doubles: one more guess a second later, then two seconds.
	clk.advance(time.Second)
	if code, _ := elsewhere.try("amhp.duty", guess+"x"); code != http.StatusUnprocessableEntity {
		t.Fatalf("a guess after the wait: %d, want it checked (422)", code)
	}
	if code, body := elsewhere.try("amhp.duty", guess+"y"); code != http.StatusTooManyRequests || !strings.Contains(body, "Wait 2 s") {
		t.Fatalf("the next guess at once: %d, want 429 saying wait 2 s", code)
	}

	// The duty AMHP at their own desk is not locked out by it.
	browser := browsertest.New(t)
	desk := signInTab(t, browser, c.URL(), "", "amhp.duty", "crisisbus-amhp")
	waitHeader(t, desk, "Jordan Taylor")

	// Guesses from many addresses, one a minute for an hour, hold the
	// username up: for a minute at most.
	for i := range 60 {
		clk.advance(time.Minute)
		newAttacker(t, c.URL(), fmt.Sprintf("192.0.2.%d", i+1)).try("amhp.duty", fmt.Sprintf("%s-%d", guess, i))
	}
	tab := signInTab(t, browser, c.URL(), "", "amhp.duty", "crisisbus-amhp")
	browsertest.Do(t, tab, "see the refusal", chromedp.WaitVisible(chromedp.CSS("#password-error")))
	browsertest.Screenshot(t, tab, "throttled")
	msg := browsertest.Get(t, tab, "message", chromedp.Text(chromedp.CSS("#password-error")))
	if !strings.Contains(msg, "Too many failed sign-ins for this username. Wait 1 min, then try again") {
		t.Fatalf("the sign-in page says %q", msg)
	}
	clk.advance(61 * time.Second)
	browsertest.Do(t, tab, "sign in a minute later",
		chromedp.SendKeys(chromedp.CSS("#password"), "crisisbus-amhp"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
	)
	waitHeader(t, tab, "Jordan Taylor")

	// One address guessing across many usernames is held up by address.
	spray := newAttacker(t, c.URL(), "198.51.100.20")
	var last string
	for i := range 31 {
		_, last = spray.try(fmt.Sprintf("staff%02d", i), guess)
	}
	if !strings.Contains(last, "Too many failed sign-ins for this network address") {
		t.Fatalf("the 31st username from one address: %q", last)
	}

	// The log says who and from where, never a password typed.
	var failed int
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, guess) || strings.Contains(line, "crisisbus-amhp") {
			t.Fatalf("the log holds a password: %s", line)
		}
		if e.Message == "sign-in failed" {
			failed++
		}
	}
	if failed < 4 {
		t.Fatalf("%d failed sign-ins logged, want every checked one", failed)
	}
}

// (3) next=/\evil.example and next=/<TAB>/evil.example were followed off
// the site after signing in. Only paths of the console are followed.
func TestSignInFollowsOnlyThePathsOfTheConsole(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{})
	browser := browsertest.New(t)
	for _, next := range []string{`/\evil.example`, "/\t/evil.example", "//evil.example", "/\\/evil.example", "https://evil.example/", "/%09/evil.example"} {
		tab := signInTab(t, browser, c.URL(), next, "spoa.clinician", "crisisbus-spoa")
		waitHeader(t, tab, "Morgan Lee")
		if loc := location(t, tab); loc != c.URL()+"/" {
			t.Errorf("next=%q took the person to %s, want the worklist", next, loc)
		}
	}
	// A page of the console is followed.
	tab := signInTab(t, browser, c.URL(), "/reports?from=2026-01", "spoa.clinician", "crisisbus-spoa")
	waitHeader(t, tab, "Morgan Lee")
	if loc := location(t, tab); loc != c.URL()+"/reports?from=2026-01" {
		t.Fatalf("next=/reports took the person to %s", loc)
	}
}

// (4) The console ran only with the demo people, listed on the sign-in
// page. With a users file it has only the people in it, lists nobody, and
// ends sessions when a person is disabled, has been idle, or gets a new
// password.
func TestAUsersFileReplacesTheDemoPeople(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.json")
	hash, err := console.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	users := console.UsersFile{Users: []console.User{{Username: "j.okoye", Name: "Jade Okoye", Agency: events.AMHP, Role: "Duty AMHP", Hash: hash}}}
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	c, _ := startConsoleWith(t, console.Config{UsersFile: file, SecureCookies: true, IdleTimeout: 20 * time.Minute, Now: clk.Now})

	browser := browsertest.New(t)
	demo := signInTab(t, browser, c.URL(), "", "amhp.duty", "crisisbus-amhp")
	browsertest.Do(t, demo, "the demo person is refused", chromedp.WaitVisible(chromedp.CSS("#password-error")))
	page := browsertest.Get(t, demo, "sign-in page", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(page, "Demo people") || strings.Contains(page, "crisisbus-") || strings.Contains(page, "amhp.duty</code>") {
		t.Fatal("the sign-in page lists the demo people with a users file")
	}

	// The cookie is marked Secure (the console is behind TLS).
	a := newAttacker(t, c.URL(), "")
	req, _ := http.NewRequest(http.MethodGet, c.URL()+"/signin", nil)
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); !strings.Contains(sc, "Secure") {
		t.Fatalf("the sign-in cookie is %q, want Secure", sc)
	}

	tab := signInTab(t, browser, c.URL(), "", "j.okoye", "correct horse battery")
	waitHeader(t, tab, "Jade Okoye")

	// Idle for longer than the timeout: the next click goes to sign-in, saying why.
	clk.advance(21 * time.Minute)
	browsertest.Do(t, tab, "click after a break", chromedp.Navigate(c.URL()+"/reports"), chromedp.WaitVisible(chromedp.CSS("#signin-note")))
	if note := browsertest.Get(t, tab, "note", chromedp.Text(chromedp.CSS("#signin-note"))); !strings.Contains(note, "signed out because you had done nothing for a while") {
		t.Fatalf("the sign-in page says %q", note)
	}
	browsertest.Do(t, tab, "sign in again",
		chromedp.SendKeys(chromedp.CSS("#username"), "j.okoye"),
		chromedp.SendKeys(chromedp.CSS("#password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS("main button[type=submit]")),
	)
	waitHeader(t, tab, "Jade Okoye")
	if loc := location(t, tab); loc != c.URL()+"/reports" {
		t.Fatalf("after signing in again the person is at %s, want the page they asked for", loc)
	}

	// Disabled in the file: signed out at the next click, and cannot sign in.
	users.Users[0].Disabled = true
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 5*time.Second, 200*time.Millisecond, func() error {
		browsertest.Do(t, tab, "click", chromedp.Navigate(c.URL()+"/"))
		if loc := location(t, tab); !strings.Contains(loc, "/signin") {
			return fmt.Errorf("still signed in at %s", loc)
		}
		return nil
	})
	again := signInTab(t, browser, c.URL(), "", "j.okoye", "correct horse battery")
	browsertest.Do(t, again, "refused", chromedp.WaitVisible(chromedp.CSS("#password-error")))

	// Enabled with a new password: the old one no longer works, the new one does.
	users.Users[0].Disabled = false
	users.Users[0].Hash, _ = console.HashPassword("a new password for jade")
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the console reads the file again at most once a second
	fresh := signInTab(t, browser, c.URL(), "", "j.okoye", "a new password for jade")
	waitHeader(t, fresh, "Jade Okoye")
}

// A page on another site that can set the console's cookies (a sibling
// site, or plain HTTP on the way) can set the sign-in token as well as
// read it back into its own form: the token alone would let it sign the
// person in as someone else. The browser says where a form was sent from,
// and the console acts only on its own pages' forms.
func TestAFormSentFromAnotherSitesPageIsRefused(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{})
	// signIn posts the duty AMHP's right password with the browser's word
	// on where the form came from.
	signIn := func(from map[string]string) (int, string, bool) {
		t.Helper()
		a := newAttacker(t, c.URL(), "")
		form := a.ready()
		form.Set("username", "amhp.duty")
		form.Set("password", "crisisbus-amhp")
		req, _ := http.NewRequest(http.MethodPost, c.URL()+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range from {
			req.Header.Set(k, v)
		}
		resp, err := a.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		session := slices.ContainsFunc(resp.Cookies(), func(ck *http.Cookie) bool { return ck.Name == "crisisbus_session" && ck.Value != "" })
		return resp.StatusCode, string(body), session
	}
	for _, from := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"}, // a sibling site of the console's
		{"Origin": "http://evil.example"},
	} {
		code, body, session := signIn(from)
		if code != http.StatusForbidden || !strings.Contains(body, "another site's page") {
			t.Errorf("a sign-in sent with %v: %d %q, want 403 saying it came from another site's page", from, code, body)
		}
		if session {
			t.Errorf("a sign-in sent with %v started a session", from)
		}
	}
	// The console's own page, as a browser sends it, signs the person in.
	if code, _, session := signIn(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": c.URL()}); code != http.StatusSeeOther || !session {
		t.Errorf("a sign-in from the console's own page: %d (session started: %v), want 303 and a session", code, session)
	}
}
