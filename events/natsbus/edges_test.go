package natsbus_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// No event with an over-long episode id gets a subject, and a replay of an
// over-long filter is refused before it reaches the server: the bus's
// connection stays up and the next publish is stored.
func TestTheBusRefusesAnOverlongEpisodeIDAndStaysConnected(t *testing.T) {
	b := bustest.Start(t, "")
	bus := bustest.Bus(t, b, events.Police)
	ctx := context.Background()
	long := strings.Repeat("a", 5000)

	ep := "0b9f1c1e-4f5a-4c59-9a51-0d4c2f7d8e11"
	e, err := events.New(events.Police, ep, &events.TriageRequested{CallerAccount: "caller", Concern: "concern", Risk: "high"})
	if err != nil {
		t.Fatal(err)
	}
	e.Subject = long
	if _, err := events.Subject(e); !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "episode id is too long: 5000 characters, at most 64") {
		t.Fatalf("the subject of an event with a 5,000-character episode id: %v", err)
	}
	if _, err := bus.Publish(ctx, e); err == nil {
		t.Fatal("an event with a 5,000-character episode id was published")
	}
	admin := bustest.Bus(t, b, "")
	_, err = admin.Replay(ctx, events.EpisodeSubjects(long), func(events.Event, uint64) error { return nil }, nil)
	if !errors.Is(err, events.ErrBadToken) || !strings.Contains(err.Error(), "replay filter is too long") {
		t.Fatalf("replay of a 5,000-character episode: %v", err)
	}
	if !bus.Conn().IsConnected() || !admin.Conn().IsConnected() {
		t.Fatal("a refused publish or replay closed the connection")
	}
	if _, _, err := bus.Emit(ctx, ep, &events.TriageRequested{CallerAccount: "passer-by", Concern: "on the bridge", Risk: "high"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	if _, err := admin.Replay(ctx, events.EpisodeSubjects(ep), func(events.Event, uint64) error { n++; return nil }, nil); err != nil || n != 1 {
		t.Fatalf("replay after the refusals: %d events, %v", n, err)
	}
}
