package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/console"
)

// answer is what the console said to one sign-in.
type answer struct {
	code       int
	retryAfter string
	body       string
	err        error
}

// send posts a sign-in form (from ready) and returns the whole answer;
// nothing is reported on t, so it may run after a test has failed.
func (a *attacker) send(form url.Values) answer {
	req, _ := http.NewRequest(http.MethodPost, a.base+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.addr != "" {
		req.Header.Set("X-Forwarded-For", a.addr)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(body)}
}

// signInForm is a sign-in form from a, ready to post.
func signInForm(a *attacker, username, password string) url.Values {
	f := a.ready()
	f.Set("username", username)
	f.Set("password", password)
	return f
}

// A flood of sign-ins from many addresses at once (a botnet's made-up
// usernames, each address new to the throttle) each started a bcrypt
// check: every core was busy checking passwords, and the staff on shift
// could neither sign in nor use the console. Now only a few passwords are
// checked at once; a sign-in that cannot have its turn in time is told
// the console is busy (503, Retry-After), its password neither checked
// nor counted as wrong, and the duty AMHP signs in once the checks
// running have finished.
func TestAFloodOfSignInsFromManyAddressesChecksOnlyAFewPasswordsAtOnce(t *testing.T) {
	const slots = 2
	var (
		mu         sync.Mutex
		entered    int // checks started
		running    int // checks started and not yet let go
		mostAtOnce int
		release    = make(chan struct{})
		once       sync.Once
	)
	let := func() { once.Do(func() { close(release) }) }
	// Each check is held here until let: what runs at once is what the
	// console let start, however slow or fast the machine.
	hold := func() {
		mu.Lock()
		entered++
		running++
		mostAtOnce = max(mostAtOnce, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
	}
	counts := func() (int, int) { mu.Lock(); defer mu.Unlock(); return entered, running }

	clk := newClock()
	core, logs := observer.New(zap.InfoLevel)
	cfg := console.WithPasswordChecks(console.Config{Now: clk.Now, BehindProxy: true, Log: zap.New(core)}, slots, 300*time.Millisecond, hold)
	c, _ := startConsoleWith(t, cfg)

	var wg sync.WaitGroup
	defer func() { let(); wg.Wait() }()

	// Two sign-ins take every turn there is, and are held checking.
	held := make([]answer, slots)
	for i := range slots {
		a := newAttacker(t, c.URL(), fmt.Sprintf("192.0.2.%d", i+1))
		form := signInForm(a, fmt.Sprintf("made.up.held.%d", i), "Winter2026!")
		wg.Go(func() {
			x := a.send(form)
			mu.Lock()
			held[i] = x
			mu.Unlock()
		})
	}
	bustest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if e, _ := counts(); e < slots {
			return fmt.Errorf("%d of %d sign-ins are being checked", e, slots)
		}
		return nil
	})

	// The flood: 20 addresses with a made-up username each, and three
	// guesses at the duty AMHP's password from one more, all at once.
	type try struct {
		a    *attacker
		form url.Values
	}
	var flood []try
	for i := range 20 {
		a := newAttacker(t, c.URL(), fmt.Sprintf("203.0.113.%d", i+1))
		flood = append(flood, try{a, signInForm(a, fmt.Sprintf("made.up.%d", i), "Winter2026!")})
	}
	const guesser = "198.51.100.5"
	for i := range 3 {
		a := newAttacker(t, c.URL(), guesser)
		flood = append(flood, try{a, signInForm(a, "amhp.duty", fmt.Sprintf("Winter2026!guess%d", i))})
	}
	answers := make([]answer, len(flood))
	var nAnswered int
	start := make(chan struct{})
	for i, f := range flood {
		wg.Go(func() {
			<-start
			x := f.a.send(f.form)
			mu.Lock()
			answers[i] = x
			nAnswered++
			mu.Unlock()
		})
	}
	close(start)

	// Every try of the flood is either answered or being checked.
	bustest.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		e, _ := counts()
		mu.Lock()
		n := nAnswered
		mu.Unlock()
		if n+e-slots < len(flood) {
			return fmt.Errorf("%d of %d tries answered, %d being checked", n, len(flood), e-slots)
		}
		return nil
	})
	mu.Lock()
	most, n, got := mostAtOnce, nAnswered, append([]answer(nil), answers...)
	mu.Unlock()
	if most > slots {
		t.Fatalf("with %d sign-ins at once from %d addresses, %d passwords were being checked at the same time; want at most %d", len(flood)+slots, len(flood)+slots-2, most, slots)
	}
	if n != len(flood) {
		t.Fatalf("%d of %d tries answered while every turn was taken", n, len(flood))
	}
	for i, a := range got {
		switch {
		case a.err != nil:
			t.Fatalf("try %d: %v", i, a.err)
		case a.code != http.StatusServiceUnavailable:
			t.Fatalf("try %d while every turn was taken: %d, want 503", i, a.code)
		case a.retryAfter == "":
			t.Fatalf("try %d: 503 without Retry-After", i)
		case !strings.Contains(a.body, "The console is very busy signing people in; try again in a minute"):
			t.Fatalf("try %d: the page does not say the console is busy: %s", i, a.body)
		}
	}

	// The checks held finish; their made-up usernames are wrong.
	let()
	bustest.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		for i, a := range held {
			if a.code == 0 && a.err == nil {
				return fmt.Errorf("held sign-in %d not answered yet", i)
			}
		}
		return nil
	})
	mu.Lock()
	heldGot := append([]answer(nil), held...)
	mu.Unlock()
	for i, a := range heldGot {
		if a.code != http.StatusUnprocessableEntity {
			t.Fatalf("held sign-in %d: %d %v, want 422 once checked", i, a.code, a.err)
		}
	}

	// The duty AMHP signs in from the guesser's address: the three
	// guesses turned away busy were never checked, so they count for
	// nothing (three wrong ones would make this try wait).
	amhp := newAttacker(t, c.URL(), guesser)
	if a := amhp.send(signInForm(amhp, "amhp.duty", "crisisbus-amhp")); a.code != http.StatusSeeOther {
		t.Fatalf("the duty AMHP signing in after the flood: %d %v %s, want 303 signed in", a.code, a.err, a.body)
	}

	var busy int
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, "Winter2026!") || strings.Contains(line, "crisisbus-amhp") {
			t.Fatalf("the log holds a password: %s", line)
		}
		if strings.Contains(e.Message, "busy") {
			busy++
		}
	}
	if busy != len(flood) {
		t.Fatalf("%d sign-ins turned away busy were logged, want %d", busy, len(flood))
	}
}
