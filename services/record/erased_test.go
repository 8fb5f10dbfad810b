package record_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
)

// crisisbus repair erases a damaged message (it reads as deleted): no
// consumer delivers it and no read returns it. The record's checkpoint
// passes it, rather than stopping before it for good and reading the rest
// of the stream again at every check.
func TestTheRecordsCheckpointPassesAMessageARepairErased(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	amhp := bustest.Bus(t, b, events.AMHP)
	rec := bustest.Bus(t, b, events.Record)
	admin, err := natsbus.NewJetStream(bustest.Conn(t, b, ""))
	if err != nil {
		t.Fatal(err)
	}
	publish := func(ep string) uint64 {
		var last uint64
		for _, e := range night(t, ep) {
			bus := police
			if e.Source == events.AMHP {
				bus = amhp
			}
			ack, err := bus.Publish(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			last = ack.Sequence
		}
		return last
	}
	// The stream as provisioned, but without DenyDelete (which cannot be
	// lifted once set) so that the test can leave the gap the repair leaves.
	st, err := admin.Stream(ctx, natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if err := admin.DeleteStream(ctx, natsbus.Stream); err != nil {
		t.Fatal(err)
	}
	cfg.DenyDelete = false
	if st, err = admin.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	publish(events.NewEpisodeID())
	// A lost event, as the repair leaves it: its sequence reads as deleted.
	lost := publish(events.NewEpisodeID())
	if err := st.SecureDeleteMsg(ctx, lost); err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 5 {
		last = publish(events.NewEpisodeID())
	}

	r, err := record.Start(ctx, record.Config{Bus: rec, CatchUpEvery: 50 * time.Millisecond, CheckpointLag: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	views, err := admin.KeyValue(ctx, record.ViewsBucket)
	if err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		ent, err := views.Get(ctx, record.CheckpointKey)
		if err != nil {
			return err
		}
		checkpoint, _ := strconv.ParseUint(string(ent.Value()), 10, 64)
		if checkpoint < last {
			return fmt.Errorf("the record's checkpoint is %d; the stream's last sequence is %d (sequence %d was erased)", checkpoint, last, lost)
		}
		return nil
	})
}
