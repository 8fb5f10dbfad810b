package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/crisisbus/crisisbus/services/console"
)

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

// Guesses sent all at once, for one username from one address, were each
// checked against the password: the wait after 3 failures was decided
// before any of them had failed. Only 3 may be checked, however they come.
func TestGuessesSentAllAtOnceAreThrottledAsIfOneByOne(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{BehindProxy: true})
	const n = 24
	forms := make([]url.Values, n)
	guessers := make([]*attacker, n)
	for i := range n {
		guessers[i] = newAttacker(t, c.URL(), "203.0.113.77")
		forms[i] = guessers[i].ready()
		forms[i].Set("username", "amhp.duty")
		forms[i].Set("password", fmt.Sprintf("Winter2026!guess%d", i))
	}
	var (
		mu               sync.Mutex
		checked, refused int
		wg               sync.WaitGroup
		start            = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest(http.MethodPost, c.URL()+"/signin", strings.NewReader(forms[i].Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "203.0.113.77")
			resp, err := guessers[i].client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch resp.StatusCode {
			case http.StatusUnprocessableEntity:
				checked++
			case http.StatusTooManyRequests:
				refused++
			default:
				t.Errorf("a guess: %d", resp.StatusCode)
			}
		})
	}
	close(start)
	wg.Wait()
	if checked > 3 {
		t.Fatalf("of %d guesses sent at once %d were checked against the password (%d refused); want at most 3", n, checked, refused)
	}
}
