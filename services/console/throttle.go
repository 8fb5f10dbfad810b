package console

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Sign-in throttling. Each failed sign-in counts against three keys: the
// username from this address, the username from anywhere, and the address
// for any username. Past a few free failures each key makes the next try
// wait, doubling with each failure up to a cap; while one must wait the
// password is not even checked. A try let through counts as a failure
// until its password is found right or wrong (attempt), so guesses sent
// all at once wait as if sent one by one. A key is forgotten after
// forgetAfter without failures, and signing in clears the username's keys.
//
// The caps keep an attacker from locking a real person out for long: from
// their own address a person waits at most userCap for failures made from
// elsewhere, and a guesser at one address gets one try per pairCap.
type rule struct {
	free int           // failures without a wait: the next try after them waits 1 s, then 2 s, 4 s…
	cap  time.Duration // the longest wait
}

var (
	pairRule = rule{free: 3, cap: 5 * time.Minute}  // username from one address
	userRule = rule{free: 10, cap: time.Minute}     // username from anywhere
	addrRule = rule{free: 30, cap: 5 * time.Minute} // one address, any username
)

const (
	forgetAfter = 15 * time.Minute
	maxKeys     = 50_000 // per kind; stale keys are dropped first, then the one failed least lately
)

func (r rule) wait(n int) time.Duration {
	if n < r.free {
		return 0
	}
	d := time.Second << min(n-r.free, 20)
	return min(d, r.cap)
}

type failures struct {
	n int
	// pending are tries let through whose password is being checked:
	// counted as failures by check until each fails or succeeds, so that
	// tries arriving together wait as if they came one by one.
	pending int
	last    time.Time
}

// stale reports whether a key may be forgotten: no failure for
// forgetAfter and no try being checked.
func (f *failures) stale(now time.Time) bool { return f.pending == 0 && now.Sub(f.last) > forgetAfter }

type throttle struct {
	mu                 sync.Mutex
	pairs, users, addr map[string]*failures
}

func newThrottle() *throttle {
	return &throttle{pairs: map[string]*failures{}, users: map[string]*failures{}, addr: map[string]*failures{}}
}

// refusal says why a sign-in must wait, and for how long.
type refusal struct {
	wait     time.Duration
	failures int
	byAddr   bool // the address, not the username, is throttled
}

// keys are the three keys of a try, each with its map and rule.
func (t *throttle) keys(user, addr string) []throttleKey {
	return []throttleKey{{t.pairs, user + "\x00" + addr, pairRule, false}, {t.users, user, userRule, false}, {t.addr, addr, addrRule, true}}
}

type throttleKey struct {
	m    map[string]*failures
	key  string
	r    rule
	addr bool
}

func (t *throttle) check(user, addr string, now time.Time) (refusal, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checkLocked(user, addr, now)
}

// attempt is a try at signing in: refused while a wait runs, otherwise
// let through and counted as pending until fail or succeed, so that
// tries arriving together cannot all pass the check before any has
// failed.
func (t *throttle) attempt(user, addr string, now time.Time) (refusal, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ref, wait := t.checkLocked(user, addr, now); wait {
		return ref, false
	}
	for _, k := range t.keys(user, addr) {
		get(k.m, k.key, now).pending++
	}
	return refusal{}, true
}

func (t *throttle) checkLocked(user, addr string, now time.Time) (refusal, bool) {
	var worst refusal
	for _, k := range t.keys(user, addr) {
		f, ok := k.m[k.key]
		if !ok || f.stale(now) {
			continue
		}
		n := f.n + f.pending
		if left := f.last.Add(k.r.wait(n)).Sub(now); left > worst.wait {
			worst = refusal{wait: left, failures: n, byAddr: k.addr}
		}
	}
	return worst, worst.wait > 0
}

// get is the key's failures, a new count if it has none or they are
// stale. A map full of recent failures (a spray of made-up usernames
// from many addresses) first forgets the stale, then the key failed
// least lately, so a key being guessed at, failing again and again,
// stays counted.
func get(m map[string]*failures, key string, now time.Time) *failures {
	f, ok := m[key]
	if ok && !f.stale(now) {
		return f
	}
	if !ok && len(m) >= maxKeys {
		forgetStale(m, now)
		if len(m) >= maxKeys {
			forgetStalest(m)
		}
	}
	f = &failures{last: now}
	m[key] = f
	return f
}

// fail counts a failed sign-in (a try attempt let through, or not)
// against its three keys; it returns the failures of the username from
// this address.
func (t *throttle) fail(user, addr string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int
	for i, k := range t.keys(user, addr) {
		f := get(k.m, k.key, now)
		f.pending = max(f.pending-1, 0)
		f.n++
		f.last = now
		if i == 0 { // the pair's
			n = f.n
		}
	}
	return n
}

// succeed clears the username's keys after signing in; the address's
// count is left as it was before the try.
func (t *throttle) succeed(user, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pairs, user+"\x00"+addr)
	delete(t.users, user)
	if f, ok := t.addr[addr]; ok && f.pending > 0 {
		f.pending--
	}
}

// abandon gives back a try let through whose password was never
// checked (the console was too busy to check it): it counts for nothing,
// and a key it alone made is forgotten, so a flood turned away busy does
// not crowd out the failures counted.
func (t *throttle) abandon(user, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range t.keys(user, addr) {
		f, ok := k.m[k.key]
		if !ok {
			continue
		}
		f.pending = max(f.pending-1, 0)
		if f.n == 0 && f.pending == 0 {
			delete(k.m, k.key)
		}
	}
}

// forgetStalest drops the key whose last failure is the oldest, of those
// with no try being checked.
func forgetStalest(m map[string]*failures) {
	var oldest *string
	var at time.Time
	for k, f := range m {
		if f.pending == 0 && (oldest == nil || f.last.Before(at)) {
			oldest, at = &k, f.last
		}
	}
	if oldest != nil {
		delete(m, *oldest)
	}
}

func forgetStale(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if f.stale(now) {
			delete(m, k)
		}
	}
}

// Password checks. The throttle holds back guesses at one username or
// from one address, but many addresses at once (a botnet, or one
// attacker with many source addresses) each get a try, and each bcrypt
// check keeps a core busy for a while: enough of them at once and the
// staff on shift could neither sign in nor use the console's other pages,
// which share those cores (and, in `crisisbus up`, the bus's). So the
// console checks at most a few passwords at once; a sign-in waits at most
// defaultCheckWait for its turn, then is told the console is busy.
const (
	defaultCheckWait = 3 * time.Second
	// busyRetry is the Retry-After of a sign-in turned away busy.
	busyRetry   = time.Minute
	busyMessage = "The console is very busy signing people in; try again in a minute. Your password was not checked."
)

// defaultChecks is one check per core: a flood keeps each core busy with
// one check, the pages and the bus taking their turns between, rather than
// with thousands of checks that leave them none.
func defaultChecks() int { return runtime.GOMAXPROCS(0) }

// checkSlots are the turns to check a password.
type checkSlots struct {
	slots chan struct{}
	wait  time.Duration
}

func newCheckSlots(n int, wait time.Duration) *checkSlots {
	return &checkSlots{slots: make(chan struct{}, n), wait: wait}
}

// take waits for a turn to check a password, at most s.wait and no
// longer than ctx lasts, and reports whether it got one; a turn taken is
// given back by release.
func (s *checkSlots) take(ctx context.Context) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (s *checkSlots) release() { <-s.slots }

// message is what the sign-in page says to a person who must wait.
func (r refusal) message() string {
	who := "this username"
	if r.byAddr {
		who = "this network address"
	}
	return fmt.Sprintf("Too many failed sign-ins for %s. Wait %s, then try again: until then no password is checked.", who, waitWords(r.wait))
}

// waitWords says a wait as people do, rounded up: "2 min 8 s", "40 s".
func waitWords(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	if s < 60 {
		return fmt.Sprintf("%d s", s)
	}
	if s%60 == 0 {
		return fmt.Sprintf("%d min", s/60)
	}
	return fmt.Sprintf("%d min %d s", s/60, s%60)
}

// clientAddr is the address a request came from: the proxy's last
// X-Forwarded-For entry when the console is behind one, else the peer.
func (c *Server) clientAddr(r *http.Request) string {
	if c.cfg.BehindProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a := strings.TrimSpace(parts[len(parts)-1]); a != "" && len(a) <= 64 {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
