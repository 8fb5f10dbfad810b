package console

import (
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
