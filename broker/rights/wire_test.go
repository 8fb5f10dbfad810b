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
	"github.com/crisisbus/crisisbus/episode"
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

// openOnABridge opens an episode through the police service, as PC 1
// answering a call about a person in crisis on a bridge.
func openOnABridge(ctx context.Context, t *testing.T, police *client) agency.OpenResponse {
	t.Helper()
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, police.nc, agency.Subject(events.Police, "open"),
		agency.OpenRequest{Actor: "PC 1", Channel: "999", Summary: "a person in crisis on a bridge"})
	if err != nil {
		t.Fatal(err)
	}
	return opened
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
		// The bucket as the store has it, and as the identities write it.
		for _, at := range []string{"", natsbus.APIPrefix + "."} {
			m := &nats.Msg{Subject: record.WorklistSubject(events.Police), Reply: at + "$KV." + bucket + "." + key, Data: body}
			if err := police.nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The same request from the caller's own inbox is answered: the record
	// has handled the ones before it.
	if _, err := police.nc.Request(record.WorklistSubject(events.Police), body, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	admin := dial(t, sys, rights.Admin)
	js, err := natsbus.NewJetStream(admin.nc)
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
	opened := openOnABridge(ctx, t, police)
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
	js, err := natsbus.NewJetStream(police.nc)
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
	js, err := natsbus.NewJetStream(police.nc)
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
	admin, err := natsbus.NewJetStream(dial(t, sys, rights.Admin).nc)
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

// JetStream answers a pull from a consumer, and an acknowledgement that
// asks for an answer or for more messages, on the reply subject the caller
// named, from inside the server, where no user's permissions apply: an
// agency naming the JetStream API (as the store has it, or as the agencies
// call it) as the reply subject of a pull from its own inbox, or of an
// acknowledgement, must not delete or purge the event stream.
func TestAnAgencyCannotDeleteTheStreamThroughItsInbox(t *testing.T) {
	ctx, sys := startSystem(t)
	police := dial(t, sys, string(events.Police))
	js, err := natsbus.NewJetStream(dial(t, sys, rights.Admin).nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "crisis.amhp."+events.NewEpisodeID()+".note_v1", []byte(`{"not":"an event"}`)); err != nil {
		t.Fatal(err)
	}
	stored := func() uint64 {
		t.Helper()
		st, err := js.Stream(ctx, natsbus.Stream)
		if err != nil {
			t.Fatalf("the event stream: %v", err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	before := stored()
	durable := rights.InboxDurable(events.Police)
	pull := natsbus.APIPrefix + ".CONSUMER.MSG.NEXT." + natsbus.Stream + "." + durable
	// An acknowledgement subject as JetStream gives one: delivered once,
	// stream sequence 1, consumer sequence 1.
	ack := "$JS.ACK." + natsbus.Stream + "." + durable + ".1.1.1.0.0"
	acts := []struct{ subject, body string }{
		{pull, `{"batch":1,"no_wait":true}`},
		{ack, "+WPI"},
		{ack, `+NXT {"batch":1,"no_wait":true}`},
	}
	for _, api := range []string{"$JS.API.", natsbus.APIPrefix + "."} {
		for _, target := range []string{api + "STREAM.DELETE." + natsbus.Stream, api + "STREAM.PURGE." + natsbus.Stream} {
			for _, a := range acts {
				if err := police.nc.PublishRequest(a.subject, target, []byte(a.body)); err != nil {
					t.Fatal(err)
				}
				if err := police.nc.Flush(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(300 * time.Millisecond)
				if n := stored(); n < before {
					t.Fatalf("police sent %q on %s with the reply subject %s: the stream holds %d messages, held %d", a.body, a.subject, target, n, before)
				}
			}
		}
	}
	select {
	case err := <-police.errs:
		t.Fatalf("the server refused police's pull or acknowledgement, so the test shows nothing: %v", err)
	default:
	}
}

// A push consumer delivers where its maker says, from inside the server:
// the console, which may make consumers with any configuration over the
// event stream and over its own bucket, must not have JetStream deliver
// into the store's API, the event stream or another identity's bucket.
// Deliveries reach only where someone subscribes: the console's own inbox.
func TestNoIdentityHasJetStreamDeliverIntoTheStore(t *testing.T) {
	ctx, sys := startSystem(t)
	console := dial(t, sys, rights.Console)
	cjs, err := natsbus.NewJetStream(console.nc)
	if err != nil {
		t.Fatal(err)
	}
	js, err := natsbus.NewJetStream(dial(t, sys, rights.Admin).nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "crisis.amhp."+events.NewEpisodeID()+".note_v1", []byte(`{"not":"an event"}`)); err != nil {
		t.Fatal(err)
	}
	kv, err := cjs.KeyValue(ctx, rights.SessionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "a-session", []byte("x")); err != nil {
		t.Fatal(err)
	}
	own := console.nc.NewInbox()
	delivered, err := console.nc.SubscribeSync(own)
	if err != nil {
		t.Fatal(err)
	}
	forged := events.NewEpisodeID()
	targets := []string{
		"$JS.API.STREAM.DELETE." + natsbus.Stream, natsbus.APIPrefix + ".STREAM.DELETE." + natsbus.Stream,
		"$JS.API.STREAM.PURGE." + natsbus.Stream,
		"crisis.police." + forged + ".note_v1", "$KV." + rights.EpisodesBucket + "." + forged,
		own,
	}
	n := 0
	for _, stream := range []string{natsbus.Stream, "KV_" + rights.SessionsBucket} {
		for _, target := range targets {
			n++
			name := "push" + strconv.Itoa(n)
			req := fmt.Sprintf(`{"stream_name":%q,"config":{"name":%q,"deliver_subject":%q,"deliver_policy":"all","ack_policy":"none"}}`, stream, name, target)
			if _, err := console.nc.Request(natsbus.APIPrefix+".CONSUMER.CREATE."+stream+"."+name, []byte(req), 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The control: the deliveries to the console's own inbox arrive.
	for range 2 {
		if _, err := delivered.NextMsg(5 * time.Second); err != nil {
			t.Fatalf("no delivery to the console's own inbox, so the test shows nothing: %v", err)
		}
	}
	time.Sleep(time.Second)
	st, err := js.Stream(ctx, natsbus.Stream)
	if err != nil {
		t.Fatalf("the console made consumers delivering into the store's API: the event stream: %v", err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs == 0 {
		t.Fatalf("the console made consumers delivering into the store's API: the event stream: %v %+v", err, info)
	}
	if m, err := st.GetLastMsgForSubject(ctx, "crisis.police."+forged+".note_v1"); err == nil {
		t.Errorf("the console had JetStream store %q as police's", m.Data)
	}
	views, err := js.KeyValue(ctx, rights.EpisodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := views.Get(ctx, forged); err == nil {
		t.Errorf("the console had JetStream write %q into the record's views", e.Value())
	}
}

// An agency's service gives some of its facts ids worked out from what they
// answer (an acknowledgement's from its handoff's id), so that an offer
// handled twice is acknowledged once. Another agency knowing the handoff id
// could store a message of its own under that id first, and the stream
// would drop the real acknowledgement as a repeat: the receiving service
// asks the record whether the message stored under the id is its own, and
// stores its fact again if not.
func TestAnAcknowledgementIsStoredThoughItsIDWasTakenFirst(t *testing.T) {
	ctx, sys := startSystem(t)
	police := dial(t, sys, string(events.Police))
	opened := openOnABridge(ctx, t, police)
	ep, handoff := opened.Episode, events.NewEpisodeID()
	js, err := natsbus.NewJetStream(police.nc)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("crisis.police." + events.NewEpisodeID() + ".note_v1")
	m.Header.Set(jetstream.MsgIDHeader, record.DeterministicID("ack/"+handoff))
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	bus, err := natsbus.NewBus(police.nc, events.Police, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bus.Emit(ctx, ep, &events.HandoffOffered{HandoffID: handoff, Kind: events.SPoAReferral, To: events.SPoA,
		Reason: "needs the crisis team tonight", Urgency: "urgent", Summary: events.Summary{Facts: []events.Fact{}}}, events.By("PC 1")); err != nil {
		t.Fatal(err)
	}
	var state episode.HandoffState
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		v, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, police.nc, record.ViewSubject(events.Police),
			record.ViewRequest{Episode: ep, Viewer: "PC 1", Purpose: "direct care"})
		if err != nil {
			t.Fatal(err)
		}
		var view episode.View
		if err := json.Unmarshal(v.View, &view); err != nil {
			t.Fatal(err)
		}
		if h := view.Handoff(handoff); h != nil {
			if state = h.State; state == episode.Acknowledged {
				return
			}
		}
	}
	t.Errorf("SPoA never acknowledged the referral whose acknowledgement's id police took first (handoff %s: %q)", handoff, state)
}
