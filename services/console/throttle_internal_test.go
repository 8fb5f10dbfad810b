package console

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// What a refused sign-in costs the console, against the bcrypt check it
// spares: go test -run NONE -bench . ./services/console
func BenchmarkRefusedSignInCheck(b *testing.B) {
	th := newThrottle()
	now := time.Now()
	for i := range 10_000 {
		th.fail(fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256), now)
	}
	for range 3 {
		th.fail("amhp.duty", "203.0.113.9", now)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, wait := th.check("amhp.duty", "203.0.113.9", now); !wait {
			b.Fatal("not throttled")
		}
	}
}

func BenchmarkPasswordCheck(b *testing.B) {
	h, _ := HashPassword("crisisbus-amhp")
	u := User{Username: "amhp.duty", Hash: h}
	for b.Loop() {
		passwordMatches(u, true, "a wrong guess")
	}
}

// What deciding whether one open page hears of one event costs, with 10,000
// episodes known.
func BenchmarkLiveFilter(b *testing.B) {
	p := newParties()
	for range 10_000 {
		p.add(events.NewEpisodeID(), events.Police, events.AMHP)
	}
	ep := events.NewEpisodeID()
	p.add(ep, events.Ambulance)
	b.ResetTimer()
	for b.Loop() {
		if p.has(ep, events.Police) {
			b.Fatal("police heard of an ambulance episode")
		}
	}
}

// Once each kind of key was full of recent failures (maxKeys of them,
// sprayed from many addresses at made-up usernames), a username's
// failures were no longer counted at all: a real person's password could
// then be guessed from many addresses without ever waiting. The key
// failed least lately makes room instead.
func TestAThrottleFullOfRecentFailuresStillCountsAPersonsFailures(t *testing.T) {
	th := newThrottle()
	now := time.Now()
	for i := range maxKeys {
		user, addr := fmt.Sprintf("made.up.%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		if _, ok := th.attempt(user, addr, now); !ok {
			t.Fatalf("spray %d refused", i)
		}
		th.fail(user, addr, now)
	}
	now = now.Add(time.Second)
	checked := 0
	for i := range 40 {
		if _, ok := th.attempt("amhp.duty", fmt.Sprintf("192.0.2.%d", i), now); ok {
			checked++
			th.fail("amhp.duty", fmt.Sprintf("192.0.2.%d", i), now)
		}
	}
	if checked > userRule.free {
		t.Fatalf("with the throttle full, %d of 40 guesses for one username from 40 addresses were let through at once; want at most %d", checked, userRule.free)
	}
}

// A try let through is held as a failure only while its password is
// checked: a person signing in leaves their address's count and wait as
// they were, so the next person at the same address waits no longer.
func TestSigningInLeavesTheAddresssWaitAsItWas(t *testing.T) {
	th := newThrottle()
	now := time.Now()
	for i := range addrRule.free + 5 {
		th.fail(fmt.Sprintf("typo.%d", i), "198.51.100.7", now)
	}
	now = now.Add(addrRule.wait(addrRule.free+5) + time.Second)
	if _, ok := th.attempt("amhp.duty", "198.51.100.7", now); !ok {
		t.Fatal("a try after the address's wait was refused")
	}
	th.succeed("amhp.duty", "198.51.100.7")
	if ref, wait := th.check("spoa.clinician", "198.51.100.7", now); wait {
		t.Fatalf("after a person signed in, the next at the address must wait %s", ref.wait)
	}
}

// A sign-in waiting for its turn to have its password checked stops
// waiting when the browser leaves, however long the wait allowed.
func TestASignInWaitingForItsTurnStopsWhenTheBrowserLeaves(t *testing.T) {
	s := newCheckSlots(1, time.Hour)
	if !s.take(context.Background()) {
		t.Fatal("the first check got no turn")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s.take(ctx) {
		t.Fatal("a second check got a turn while the only one was taken")
	}
	s.release()
	if !s.take(context.Background()) {
		t.Fatal("no turn after the first check gave its back")
	}
}

// A try turned away busy, never checked, counts for nothing: the
// throttle is as it was before it, and keeps no key for it.
func TestATryTurnedAwayBusyCountsForNothing(t *testing.T) {
	th := newThrottle()
	now := time.Now()
	for range pairRule.free + 5 {
		if _, ok := th.attempt("made.up", "203.0.113.8", now); !ok {
			break
		}
		th.abandon("made.up", "203.0.113.8")
	}
	if ref, wait := th.check("made.up", "203.0.113.8", now); wait {
		t.Fatalf("after tries turned away busy the next must wait %s", ref.wait)
	}
	if len(th.pairs)+len(th.users)+len(th.addr) != 0 {
		t.Fatalf("the throttle keeps %d, %d and %d keys for tries never checked", len(th.pairs), len(th.users), len(th.addr))
	}
}
