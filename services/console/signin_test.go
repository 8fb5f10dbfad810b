package console_test

import (
	"context"
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

func startConsole(t *testing.T) *console.Server {
	t.Helper()
	b := bustest.Start(t, "")
	nc := bustest.Conn(t, b, events.Agency(broker.Console))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := console.Start(ctx, nc, console.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func TestSignInWithAWrongPasswordKeepsTheUsernameAndSaysWhatIsWrong(t *testing.T) {
	c := startConsole(t)
	tab := browsertest.New(t)
	browsertest.Do(t, tab, "open the console",
		chromedp.Navigate(c.URL()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "amhp.duty"),
		chromedp.SendKeys(chromedp.CSS("#password"), "wrong"),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".error-summary")),
	)
	browsertest.Screenshot(t, tab, "signin-error")
	inline := browsertest.Get(t, tab, "inline error", chromedp.Text(chromedp.CSS("#password-error")))
	if !strings.Contains(inline, "The username or password is not right") {
		t.Errorf("inline error = %q", inline)
	}
	if typed := browsertest.Get(t, tab, "username kept", chromedp.Value(chromedp.CSS("#username"))); typed != "amhp.duty" {
		t.Errorf("username field holds %q after the error, want what was typed", typed)
	}
	if title := browsertest.Get(t, tab, "title", chromedp.Title()); !strings.HasPrefix(title, "Error: ") {
		t.Errorf("page title %q does not start with Error:", title)
	}

	browsertest.Do(t, tab, "sign in properly",
		chromedp.SendKeys(chromedp.CSS("#password"), "crisisbus-amhp"),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(".header-user")),
	)
	who := browsertest.Get(t, tab, "header", chromedp.Text(chromedp.CSS(".header-user")))
	if !strings.Contains(who, "Jordan Taylor") || !strings.Contains(who, "AMHP service") {
		t.Errorf("header after sign-in = %q", who)
	}
}
