package record_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// A view asked to show an episode after an event it does not hold waits a
// little for it (record.AfterWait). Five such views, sent together by a
// client holding the police password (or by pages a moment ahead of a
// slow replica), hold up no one else's view.
func TestViewsWaitingForAnEventHoldUpNoOtherView(t *testing.T) {
	r := startRecord(t, 1)
	ep := r.eps[0]
	ctx := context.Background()
	view := func(after string) (time.Duration, error) {
		cctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		defer cancel()
		start := time.Now()
		_, err := rpc.Call[record.ViewRequest, record.ViewResponse](cctx, r.police, record.ViewSubject(events.Police),
			record.ViewRequest{Episode: ep, Viewer: "PC 1", Purpose: "direct care", After: after})
		return time.Since(start), err
	}
	if _, err := view(""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = view(events.NewEpisodeID()) }()
	}
	time.Sleep(100 * time.Millisecond)
	d, err := view("")
	wg.Wait()
	if err != nil || d > record.AfterWait/2 {
		t.Fatalf("a view behind five waiting for an event the episode does not hold took %s (%v); want it answered at once", d.Round(time.Millisecond), err)
	}
}
