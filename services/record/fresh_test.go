package record_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The record keeps the episodes it read and asks the stream only for what
// came after: through a night on one episode, read by the police and the
// AMHP service after every fact (and after a message nobody can read),
// each answer is exactly the episode read whole from the stream at that
// moment, cut to what that agency may see.
func TestAnEpisodeReadAfterEveryFactIsTheEpisodeReadWhole(t *testing.T) {
	r := startRecord(t, 0)
	ctx := context.Background()
	police := bustest.Bus(t, r.b, events.Police)
	amhp := bustest.Bus(t, r.b, events.AMHP)
	amhpConn := bustest.Conn(t, r.b, events.AMHP)
	ep := events.NewEpisodeID()
	night := night(t, ep)
	for i, e := range night {
		bus := police
		if e.Source == events.AMHP {
			bus = amhp
		}
		if _, err := bus.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			// a message on the episode that is not an event at all
			if _, err := police.JetStream().Publish(ctx, "crisis.police."+ep+".person_voice_recorded_v1", []byte("not an event")); err != nil {
				t.Fatal(err)
			}
		}
		for _, asker := range []struct {
			agency events.Agency
			call   func() (record.StateResponse, error)
		}{
			{events.Police, func() (record.StateResponse, error) {
				return rpc.Call[record.StateRequest, record.StateResponse](ctx, r.police, record.StateSubject(events.Police), record.StateRequest{Episode: ep, Actor: "PC 4471 Hughes"})
			}},
			{events.AMHP, func() (record.StateResponse, error) {
				return rpc.Call[record.StateRequest, record.StateResponse](ctx, amhpConn, record.StateSubject(events.AMHP), record.StateRequest{Episode: ep, Actor: "AMHP Sarah"})
			}},
		} {
			got, err := asker.call()
			if asker.agency == events.AMHP && i < 4 {
				// Before the police offer the assessment, the AMHP service
				// has no part in the episode: its commands may not read it.
				if err == nil || !strings.Contains(err.Error(), episode.NoPartMessage) {
					t.Fatalf("after fact %d the AMHP service, with no part yet, read the state: %v", i+1, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("after fact %d the %s state: %v", i+1, asker.agency, err)
			}
			whole, seq, err := record.Load(ctx, r.bus, ep)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := episode.ForAgencyJSON(whole, asker.agency)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.View, want) {
				t.Fatalf("after fact %d the %s state differs from the episode read whole:\n got %s\nwant %s", i+1, asker.agency, got.View, want)
			}
			if got.Sequence != seq {
				t.Fatalf("after fact %d the %s state is at sequence %d, the episode's last is %d", i+1, asker.agency, got.Sequence, seq)
			}
			if i >= 3 && len(whole.Unreadable) != 1 {
				t.Fatalf("after fact %d the episode lists %d unreadable messages, want 1", i+1, len(whole.Unreadable))
			}
		}
		view, err := r.view(ep, "PC 4471 Hughes", "the call")
		if err != nil {
			t.Fatalf("after fact %d the police view: %v", i+1, err)
		}
		whole, _, _ := record.Load(ctx, r.bus, ep)
		if want, _, _ := episode.ForAgencyJSON(whole, events.Police); !bytes.Equal(view.View, want) {
			t.Fatalf("after fact %d the police view differs from the episode read whole:\n got %s\nwant %s", i+1, view.View, want)
		}
	}
}
