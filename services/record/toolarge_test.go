package record_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// An episode whose facts outgrow one message of the bus (150 pieces of
// triage advice of 32 KB each, published straight to the bus: nearly
// 5 MB) cannot be sent whole. A view of it is refused at once, in words
// that say what to do, not left to time out; and the record's check of
// every other episode goes on: its checkpoint reaches the stream's last
// fact.
func TestAnEpisodeTooLargeToSendIsRefusedInWordsAndHoldsUpNoOther(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	spoa := bustest.Bus(t, b, events.SPoA)
	rec := bustest.Bus(t, b, events.Record)
	r, err := record.Start(ctx, record.Config{Bus: rec, Log: bustest.Logger(), CatchUpEvery: 200 * time.Millisecond, CheckpointLag: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	ep := events.NewEpisodeID()
	at := time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)
	pub := func(ep string, data any) uint64 {
		at = at.Add(time.Minute)
		e, err := events.New(events.SPoA, ep, data, events.At(at))
		if err != nil {
			t.Fatal(err)
		}
		ack, err := spoa.Publish(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	pub(ep, &events.EpisodeOpened{Channel: "111", Summary: "caller in crisis"})
	text := strings.Repeat("\U0001F600", 4000) // 4,000 characters, 16,000 bytes
	for range 150 {
		pub(ep, &events.TriageAdviceGiven{Advice: text, HealthHistory: text, RecommendedAction: "refer_spoa"})
	}
	last := pub(events.NewEpisodeID(), &events.EpisodeOpened{Channel: "111", Summary: "another caller"})

	nc := bustest.Conn(t, b, events.SPoA)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err = rpc.Call[record.ViewRequest, record.ViewResponse](cctx, nc, record.ViewSubject(events.SPoA),
		record.ViewRequest{Episode: ep, Viewer: "Nurse A", Purpose: "direct care"})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.Conflict || !strings.Contains(re.Message, "more than the bus carries in one message") ||
		!strings.Contains(re.Message, "new episode") {
		t.Fatalf("a view of the episode after %s: %v, want a 409 saying it is too large to send and to go on in a new episode", time.Since(start).Round(time.Millisecond), err)
	}
	kv, err := rec.JetStream().KeyValue(ctx, record.ViewsBucket)
	if err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		cp, err := kv.Get(ctx, record.CheckpointKey)
		if err != nil {
			return err
		}
		if n, _ := strconv.ParseUint(string(cp.Value()), 10, 64); n < last {
			return fmt.Errorf("the record's checkpoint is %d, the stream's last fact %d", n, last)
		}
		return nil
	})
}
