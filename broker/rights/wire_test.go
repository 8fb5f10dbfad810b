package rights_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

func startSystem(t *testing.T) (context.Context, *system.System) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	sys, err := system.Start(ctx, system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	return ctx, sys
}

// A request's reply subject is the caller's to choose, and the server lets
// a service publish its one answer wherever that is: a service answers only
// to a caller's inbox, so no agency can have the record write its answer
// into the record's own buckets or anywhere else the record may publish.
func TestAServiceAnswersOnlyToAnInbox(t *testing.T) {
	ctx, sys := startSystem(t)
	police := dial(t, sys, string(events.Police))
	victim := events.NewEpisodeID()
	body, err := json.Marshal(record.WorklistRequest{Viewer: "an integrator", Purpose: "direct care"})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{
		rights.EpisodesBucket:    victim,
		rights.DisclosuresBucket: victim,
		rights.PeopleBucket:      victim,
	}
	for bucket, key := range targets {
		m := &nats.Msg{Subject: record.WorklistSubject(events.Police), Reply: "$KV." + bucket + "." + key, Data: body}
		if err := police.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// The same request from the caller's own inbox is answered: the record
	// has handled the ones before it.
	if _, err := police.nc.Request(record.WorklistSubject(events.Police), body, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	admin := dial(t, sys, rights.Admin)
	js, err := jetstream.New(admin.nc)
	if err != nil {
		t.Fatal(err)
	}
	for bucket, key := range targets {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("police had the record write its answer into %s under %s: %v %s", bucket, key, err, entry(e))
		}
	}
}

func entry(e jetstream.KeyValueEntry) string {
	if e == nil {
		return ""
	}
	return string(e.Value())
}

// The stream drops a message whose Nats-Msg-Id it already holds, whoever
// stored the first: a police integrator who works out the id of the
// disclosure a read will record, and stores a message of its own under it
// first, must not read the episode with no disclosure recorded.
func TestAReadIsDisclosedThoughItsIDWasTakenFirst(t *testing.T) {
	ctx, sys := startSystem(t)
	police := dial(t, sys, string(events.Police))
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, police.nc, agency.Subject(events.Police, "open"),
		agency.OpenRequest{Actor: "PC 1", Channel: "999", Summary: "a person in crisis on a bridge"})
	if err != nil {
		t.Fatal(err)
	}
	ep := opened.Episode
	view := func(viewer string) record.ViewResponse {
		t.Helper()
		v, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, police.nc, record.ViewSubject(events.Police),
			record.ViewRequest{Episode: ep, Viewer: viewer, Purpose: "direct care", After: opened.Receipt.Events[0]})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	fields := view("PC 1").Fields
	// Not at the edge of a disclosure window: the id is worked out for this one.
	if left := time.Until(time.Now().Truncate(record.DisclosureWindow).Add(record.DisclosureWindow)); left < 5*time.Second {
		time.Sleep(left + time.Second)
	}
	now := time.Now()
	seed, err := json.Marshal([]any{ep, "PC 2", events.Police, "direct care", fields, now.UTC().Truncate(record.DisclosureWindow).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	taken := record.DeterministicID("disclosure/" + string(seed))
	js, err := jetstream.New(police.nc)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("crisis.police." + events.NewEpisodeID() + ".note_v1")
	m.Header.Set(jetstream.MsgIDHeader, taken)
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got := view("PC 2"); got.DisclosureID != taken {
		t.Logf("the read was disclosed as %s, not under the id taken first", got.DisclosureID)
	}

	admin, err := natsbus.NewBus(dial(t, sys, rights.Admin).nc, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var viewers []string
	if _, err := admin.Replay(ctx, events.EpisodeSubjects(ep), func(e events.Event, _ uint64) error {
		var d events.RecordDisclosed
		if e.Source == events.Record && json.Unmarshal(e.Data, &d) == nil && d.Viewer != "" {
			viewers = append(viewers, d.Viewer)
		}
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(viewers, "PC 2") {
		t.Errorf("PC 2 read police's view of episode %s and no disclosure was recorded (disclosures stored: %v)", ep, viewers)
	}
}

// Each service sets aside in the dead-letter stream a stored message it
// cannot use, under its own consumer's name. A police integrator who stores
// dead letters of its own first, under the ids the services would give
// theirs, must not have a message the services refused leave no trace there.
func TestARefusedMessageIsDeadLetteredThoughItsIDWasTakenFirst(t *testing.T) {
	ctx, sys := startSystem(t)
	police := dial(t, sys, string(events.Police))
	js, err := jetstream.New(police.nc)
	if err != nil {
		t.Fatal(err)
	}
	junk := func() uint64 {
		t.Helper()
		ack, err := js.Publish(ctx, "crisis.police."+events.NewEpisodeID()+".note_v1", []byte(`{"not":"an event"}`))
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	var next uint64
	for try := 0; ; try++ {
		next = junk() + 1
		time.Sleep(300 * time.Millisecond) // the services set it aside
		// On every dead-letter subject police may have (the server refuses
		// the others).
		for _, subj := range []string{events.DeadLetterRoot + "." + rights.InboxDurable(events.Police), events.DeadLetterRoot + "." + rights.InboxDurable(events.Police) + "." + strconv.FormatUint(next, 10)} {
			for _, d := range []string{rights.RecordDurable, rights.AuditDurable, rights.ClockDurable, natsbus.ReplayConsumer} {
				m := nats.NewMsg(subj)
				m.Header.Set(jetstream.MsgIDHeader, d+":"+strconv.FormatUint(next, 10))
				m.Header.Set(natsbus.HeaderDeadConsumer, d)
				m.Data = []byte("nothing to see")
				if err := police.nc.PublishMsg(m); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := police.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if junk() == next {
			break
		}
		if try == 5 {
			t.Fatal("the stream never stood still")
		}
	}
	admin, err := jetstream.New(dial(t, sys, rights.Admin).nc)
	if err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		st, err := admin.Stream(ctx, natsbus.DeadLetterStream)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		set := map[string]bool{}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				return err
			}
			if m.Header.Get(natsbus.HeaderDeadSequence) == strconv.FormatUint(next, 10) &&
				!strings.HasPrefix(m.Subject, events.DeadLetterRoot+"."+rights.InboxDurable(events.Police)) {
				set[m.Subject] = true
			}
		}
		for _, d := range []string{rights.RecordDurable, rights.AuditDurable} {
			if !slices.ContainsFunc(slices.Collect(maps.Keys(set)), func(s string) bool { return strings.HasPrefix(s, events.DeadLetterRoot+"."+d) }) {
				return fmt.Errorf("no dead letter from %s of the message at %d, refused (dead letters of it: %v)", d, next, set)
			}
		}
		return nil
	})
}
