package console

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sign-in throttling. Each failed sign-in counts against three keys: the
// username from this address, the username from anywhere, and the address
// for any username. Past a few free failures each key makes the next try
// wait, doubling with each failure up to a cap; while one must wait the
// password is not even checked. A try is counted as a failure before its
// password is checked (attempt), so guesses sent all at once wait as if
// sent one by one; signing in takes it back. A key is forgotten after
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
	n    int
	last time.Time
}

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

func (t *throttle) check(user, addr string, now time.Time) (refusal, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checkLocked(user, addr, now)
}

// attempt is a try at signing in: refused while a wait runs, otherwise
// counted as a failure at once, before its password is checked, so that
// tries arriving together cannot all pass the check before any has
// failed. It returns the failures for the username from this address,
// this try included; succeed takes the try back.
func (t *throttle) attempt(user, addr string, now time.Time) (refusal, int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ref, wait := t.checkLocked(user, addr, now); wait {
		return ref, 0, false
	}
	return refusal{}, t.failLocked(user, addr, now), true
}

func (t *throttle) checkLocked(user, addr string, now time.Time) (refusal, bool) {
	var worst refusal
	for _, k := range []struct {
		m    map[string]*failures
		key  string
		r    rule
		addr bool
	}{{t.pairs, user + "\x00" + addr, pairRule, false}, {t.users, user, userRule, false}, {t.addr, addr, addrRule, true}} {
		f, ok := k.m[k.key]
		if !ok || now.Sub(f.last) > forgetAfter {
			continue
		}
		if left := f.last.Add(k.r.wait(f.n)).Sub(now); left > worst.wait {
			worst = refusal{wait: left, failures: f.n, byAddr: k.addr}
		}
	}
	return worst, worst.wait > 0
}

func (t *throttle) fail(user, addr string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failLocked(user, addr, now)
}

func (t *throttle) failLocked(user, addr string, now time.Time) int {
	count := func(m map[string]*failures, key string) int {
		f, ok := m[key]
		if !ok || now.Sub(f.last) > forgetAfter {
			if !ok && len(m) >= maxKeys {
				forgetStale(m, now)
				if len(m) >= maxKeys {
					// Full of recent failures (a spray of made-up
					// usernames from many addresses): the key failed
					// least lately makes room, so a key being guessed
					// at, failing again and again, stays counted.
					forgetStalest(m)
				}
			}
			f = &failures{}
			m[key] = f
		}
		f.n++
		f.last = now
		return f.n
	}
	count(t.users, user)
	count(t.addr, addr)
	return count(t.pairs, user+"\x00"+addr)
}

// succeed clears the username's keys after signing in, and takes back
// the address's count of the try (attempt counted it as a failure).
func (t *throttle) succeed(user, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pairs, user+"\x00"+addr)
	delete(t.users, user)
	if f, ok := t.addr[addr]; ok && f.n > 0 {
		f.n--
	}
}

// forgetStalest drops the key whose last failure is the oldest.
func forgetStalest(m map[string]*failures) {
	var oldest *string
	var at time.Time
	for k, f := range m {
		if oldest == nil || f.last.Before(at) {
			oldest, at = &k, f.last
		}
	}
	if oldest != nil {
		delete(m, *oldest)
	}
}

func forgetStale(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if now.Sub(f.last) > forgetAfter {
			delete(m, k)
		}
	}
}

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
