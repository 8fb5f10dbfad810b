package broker_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// Other files fill the disk under a running crisisbus. Before the disk is
// full the store stops taking new facts, and says so: a publish is refused
// at once with "insufficient resources" (not left to time out on a failed
// write). Once the operator deletes their files, publishes are stored
// again, with no restart.
func TestANearlyFullDiskRefusesPublishesAtOnceAndTakesThemOnceSpaceIsFreed(t *testing.T) {
	disk := bustest.SmallDisk(t, "20m")
	b := start(t, broker.Config{DataDir: filepath.Join(disk, "crisisbus"), SpaceCheckEvery: 50 * time.Millisecond, Log: bustest.Logger()})
	t.Cleanup(b.Shutdown)
	ctx := t.Context()
	admin := bustest.Bus(t, b, "")
	if err := rights.Provision(ctx, admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	// The operator's files take most of the disk after crisisbus started.
	logs := filepath.Join(disk, "old-logs.tar")
	if err := os.WriteFile(logs, make([]byte, 12<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	police := bustest.Bus(t, b, events.Police)
	publish := func() error {
		e, err := events.New(events.Police, events.NewEpisodeID(), &events.EpisodeOpened{Channel: "101",
			Summary: strings.Repeat("caller worried about her neighbour, not seen for days. ", 50)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = police.Publish(ctx, e)
		return err
	}
	// Publish until the store refuses with 503. While the broker restarts
	// JetStream to stop the store where it is (a few seconds), a publish
	// may find no answer; that is the gap the README names, not a refusal.
	stored, gaps := 0, 0
	var refused error
	for {
		err := publish()
		if err == nil {
			stored++
		} else {
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.Code == 503 && natsbus.StoreUnavailable(err) {
				refused = err
				break
			}
			if gaps++; gaps > 5 {
				t.Fatalf("after %d events stored, publishes failed %d times without the 503 refusal (insufficient resources), last: %v", stored, gaps, err)
			}
			t.Logf("a publish during the broker's restart of the store: %v", err)
		}
		if stored > 20000 {
			t.Fatal("20000 events stored on a 20 MB disk without a refusal")
		}
	}
	st := b.StoreStatus()
	if !st.Full || !strings.Contains(st.Message, "full") || b.StoreAlert() == "" {
		t.Fatalf("store status %+v, alert %q: want full, saying the disk is full or nearly full", st, b.StoreAlert())
	}
	t.Logf("%d events stored, then refused at once: %v; the log says: %s", stored, refused, st.Message)

	if err := os.Remove(logs); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if err := publish(); err != nil {
			return fmt.Errorf("after the operator freed space: %w", err)
		}
		if st := b.StoreStatus(); st.Full {
			return fmt.Errorf("the store stores again but its status says full: %+v", st)
		}
		return nil
	})
	stream, err := admin.JetStream().Stream(context.Background(), natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if n := stream.CachedInfo().State.Msgs; n < uint64(stored)+1 {
		t.Fatalf("the stream holds %d events, want the %d stored before and the one after", n, stored)
	}
}
