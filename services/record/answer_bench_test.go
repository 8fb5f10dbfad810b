package record_test

import (
	"context"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// BenchmarkAnswerOnAFiftyFactEpisode measures what the record does for
// each command and each view on an episode of 50 facts, over NATS: the
// state an agency's service decides a command on (read fresh from the
// stream), and an agency's view (from the projection). The disclosure is
// stored once for the window, as in use, so what is measured is the read,
// the cut to the allowlist and the answer.
//
//	go test ./services/record -run '^$' -bench AnswerOnAFiftyFactEpisode -benchmem
func BenchmarkAnswerOnAFiftyFactEpisode(b *testing.B) {
	br := bustest.Start(b, "")
	police := bustest.Bus(b, br, events.Police)
	rec := bustest.Bus(b, br, events.Record)
	ep := storeEpisodes(b, police, 50, 1)[0]
	r, err := record.Start(context.Background(), record.Config{Bus: rec})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Stop)
	waitApplied(b, rec, 50)
	ctx := context.Background()
	b.Run("state", func(b *testing.B) {
		for b.Loop() {
			resp, err := rpc.Call[record.StateRequest, record.StateResponse](ctx, police.Conn(), record.StateSubject(events.Police), record.StateRequest{Episode: ep, Actor: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if resp.Sequence < 50 {
				b.Fatalf("the state is at sequence %d, before the episode's 50 facts", resp.Sequence)
			}
		}
	})
	b.Run("view", func(b *testing.B) {
		for b.Loop() {
			resp, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, police.Conn(), record.ViewSubject(events.Police), record.ViewRequest{Episode: ep, Agency: events.Police, Viewer: "bench", Purpose: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if len(resp.Fields) == 0 {
				b.Fatal("the view has no fields")
			}
		}
	})
}
