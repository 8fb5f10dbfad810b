package rights_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// The record's views are rebuilt from the stream, so on a single node their
// bucket is written without waiting for the disk; every other bucket (who
// saw what, sessions, clocks, the person index) waits for it. Provisioned
// again, as at every `crisisbus up`, each stays as it is, its values kept.
func TestOnlyTheViewsBucketIsWrittenWithoutWaitingForTheDisk(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	js, err := natsbus.NewJetStream(bustest.Conn(t, b, ""))
	if err != nil {
		t.Fatal(err)
	}
	views, err := js.KeyValue(ctx, rights.EpisodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := views.Put(ctx, "ep1", []byte(`{"id":"ep1"}`)); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for _, bk := range rights.Buckets() {
			st, err := js.Stream(ctx, "KV_"+bk.Name)
			if err != nil {
				t.Fatal(err)
			}
			want := jetstream.DefaultPersistMode
			if bk.Name == rights.EpisodesBucket {
				want = jetstream.AsyncPersistMode
			}
			if got := st.CachedInfo().Config.PersistMode; got != want || bk.Unsynced != (want == jetstream.AsyncPersistMode) {
				t.Errorf("round %d: bucket %s is persisted %s (Unsynced %v), want %s", round, bk.Name, got, bk.Unsynced, want)
			}
		}
		if err := rights.Provision(ctx, js, natsbus.StreamConfig{}); err != nil {
			t.Fatalf("provisioned again: %v", err)
		}
	}
	if e, err := views.Get(ctx, "ep1"); err != nil || string(e.Value()) != `{"id":"ep1"}` {
		t.Fatalf("the view written before provisioning again: %v", err)
	}
}

// A views bucket made by an earlier crisisbus, which synced every write, is
// left synced with its views: changing how a stream is persisted means
// emptying it.
func TestAViewsBucketMadeSyncedIsLeftSyncedWithItsViews(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{DataDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Shutdown)
	js, err := natsbus.NewJetStream(bustest.Conn(t, b, ""))
	if err != nil {
		t.Fatal(err)
	}
	old, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: rights.EpisodesBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Put(ctx, "ep1", []byte(`{"id":"ep1"}`)); err != nil {
		t.Fatal(err)
	}
	if err := rights.Provision(ctx, js, natsbus.StreamConfig{}); err != nil {
		t.Fatalf("provision over the earlier bucket: %v", err)
	}
	st, err := js.Stream(ctx, "KV_"+rights.EpisodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.PersistMode; got != jetstream.DefaultPersistMode {
		t.Errorf("the earlier views bucket is persisted %s, want it left as it was", got)
	}
	if e, err := old.Get(ctx, "ep1"); err != nil || string(e.Value()) != `{"id":"ep1"}` {
		t.Fatalf("the earlier bucket's view: %v", err)
	}
}
