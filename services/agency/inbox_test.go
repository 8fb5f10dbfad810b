package agency_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
)

// behindFirst reads the episode as a replica still catching up would the
// first times (without the latest facts), then as the stream holds it.
type behindFirst struct {
	bus    *natsbus.Bus
	stale  int32
	served atomic.Int32
}

func (l *behindFirst) Load(ctx context.Context, ep, _ string) (episode.View, uint64, error) {
	if l.served.Add(1) <= l.stale {
		return episode.New(ep), 0, nil
	}
	return record.Load(ctx, l.bus, ep)
}

// Police refer a person to SPoA while SPoA's read of the episode comes from
// a copy of the stream that does not hold the offer yet (a cluster node
// catching up after a restart): SPoA's inbox does not take that as "nothing
// to do"; it reads again and the offer is acknowledged.
func TestAnOfferReadFromACopyBehindTheStreamIsStillAcknowledged(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	loader := &behindFirst{bus: bustest.Bus(t, b, ""), stale: 2}
	spoa := &agency.Kit{Bus: bustest.Bus(t, b, events.SPoA), Log: bustest.Logger(), Loader: loader}
	sub, err := spoa.Inbox(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()

	ep := events.NewEpisodeID()
	opened, err := events.New(events.Police, ep, &events.EpisodeOpened{Channel: "999", Summary: "woman at the station says she wants to end it"})
	if err != nil {
		t.Fatal(err)
	}
	handoff := events.NewEpisodeID()
	offer, err := events.New(events.Police, ep, &events.HandoffOffered{HandoffID: handoff, Kind: events.SPoAReferral, To: events.SPoA,
		Reason: "needs the crisis team tonight", Urgency: "urgent", Summary: events.Summary{Facts: []events.Fact{}}}, events.To(events.SPoA))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []events.Event{opened, offer} {
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	bustest.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		v, _, err := record.Load(ctx, loader.bus, ep)
		if err != nil {
			return err
		}
		if h := v.Handoff(handoff); h == nil || h.State != episode.Acknowledged {
			return fmt.Errorf("handoff %+v after %d reads, want acknowledged by SPoA's inbox", h, loader.served.Load())
		}
		return nil
	})
	if n := loader.served.Load(); n < 3 {
		t.Fatalf("the episode was read %d times; the first two reads were behind, so it must have been read again", n)
	}
}
