package natsbus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/denied"
)

// received collects what a consumer's handler was given.
type received struct {
	mu  sync.Mutex
	ids []string
}

func (r *received) add(e events.Event) { r.mu.Lock(); r.ids = append(r.ids, e.ID); r.mu.Unlock() }
func (r *received) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func detention(t *testing.T, episode string) events.Event {
	t.Helper()
	e, err := events.New(events.Police, episode, &events.S136Detained{
		DetainedAt: time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC), LocationType: "public_place",
		AgeYears: 34, Consulted: true,
	}, events.By("PC 4471"))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// offerTo is a handoff of episode from police to a.
func offerTo(t *testing.T, episode string, a events.Agency) events.Event {
	t.Helper()
	e, err := events.New(events.Police, episode, &events.HandoffOffered{
		HandoffID: events.NewEpisodeID(), Kind: events.MHAAssessment, To: a,
		Reason: "detained under s136 at the place of safety", Urgency: "emergency",
		Summary: events.Summary{OwnWords: "I want my sister told", Facts: []events.Fact{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPublishedEventIsConsumedOnceByTheAddressedAgency(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	amhp := bustest.Bus(t, b, events.AMHP)

	episode := events.NewEpisodeID()
	offer := offerTo(t, episode, events.AMHP)
	ack, err := police.Publish(ctx, offer)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Sequence == 0 || ack.Duplicate {
		t.Fatalf("ack = %+v, want a new stream sequence", ack)
	}
	again, err := police.Publish(ctx, offer)
	if err != nil || !again.Duplicate || again.Sequence != ack.Sequence {
		t.Fatalf("republishing the same event id: ack %+v err %v, want the duplicate of seq %d", again, err, ack.Sequence)
	}

	var got received
	sub, err := amhp.Consume(ctx, natsbus.ConsumerConfig{Durable: "amhp-inbox", Filters: []string{events.InboxSubjects(events.AMHP)}},
		func(_ context.Context, e events.Event) error {
			var d events.HandoffOffered
			if err := e.DecodeInto(&d); err != nil {
				return err
			}
			if d.Summary.OwnWords != "I want my sister told" {
				return fmt.Errorf("summary lost the person's words: %+v", d.Summary)
			}
			got.add(e)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	bustest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if ids := got.list(); len(ids) != 1 || ids[0] != offer.ID {
			return fmt.Errorf("amhp received %v, want [%s]", ids, offer.ID)
		}
		return nil
	})
}

func TestAnAgencyCannotPublishAsAnother(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)

	// crisisbus refuses before sending: the source is not the connection's agency.
	outcome, err := events.New(events.AMHP, events.NewEpisodeID(), &events.AssessmentCompleted{
		Outcome: "not_admitted", CompletedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := police.Publish(ctx, outcome); !errors.Is(err, events.ErrNotAuthor) {
		t.Fatalf("police publishing an AMHP outcome: err = %v, want ErrNotAuthor", err)
	}
	// The catalogue refuses a type the agency may not publish.
	fake, _ := events.New(events.Police, events.NewEpisodeID(), &events.AssessmentCompleted{
		Outcome: "not_admitted", CompletedAt: time.Now().UTC()})
	if _, err := police.Publish(ctx, fake); !errors.Is(err, events.ErrNotAuthor) {
		t.Fatalf("police publishing an assessment outcome as itself: err = %v, want ErrNotAuthor", err)
	}

	// And the server refuses a raw publish on another agency's subjects.
	violations := make(chan error, 1)
	nc := bustest.Conn(t, b, events.Police, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case violations <- err:
		default:
		}
	}))
	raw, _ := events.Encode(outcome)
	subj, _ := events.Subject(outcome)
	js, _ := natsbus.NewJetStream(nc)
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.Publish(short, subj, raw); err == nil {
		t.Fatalf("server stored police's publish on %s", subj)
	}
	select {
	case err := <-violations:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Fatalf("server error = %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server reported no permissions violation")
	}
}

func TestInvalidEventIsDeadLetteredAndDoesNotBlockTheNext(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	episode := events.NewEpisodeID()

	// An integrator's system bypasses crisisbus and publishes a detention at a
	// private dwelling, which s136 forbids; then a valid event behind it.
	bad := detention(t, episode)
	bad.Data = []byte(`{"detainedAt":"2026-11-20T01:30:00Z","locationType":"private_dwelling","ageYears":34,"keptWhereTheyAre":false,"consulted":true}`)
	subj, _ := events.Subject(bad)
	rawBad := []byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"police","type":%q,"subject":%q,"time":"2026-11-20T01:30:00Z","datacontenttype":"application/json","dataschema":%q,"data":%s}`,
		bad.ID, bad.Type, episode, bad.DataSchema, bad.Data))
	if _, err := police.JetStream().Publish(ctx, subj, rawBad); err != nil {
		t.Fatal(err)
	}
	good := detention(t, episode)
	if _, err := police.Publish(ctx, good); err != nil {
		t.Fatal(err)
	}
	if _, err := police.Publish(ctx, bad); !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "/data/locationType") {
		t.Fatalf("crisisbus publish of the bad event: err = %v, want ErrInvalid naming /data/locationType", err)
	}

	var got received
	sub, err := bustest.Bus(t, b, events.Record).Consume(ctx, natsbus.ConsumerConfig{Durable: "record-all"},
		func(_ context.Context, e events.Event) error { got.add(e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	bustest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if ids := got.list(); len(ids) != 1 || ids[0] != good.ID {
			return fmt.Errorf("handler got %v, want only the valid event %s", ids, good.ID)
		}
		return nil
	})
	dead := deadLetters(t, bustest.Bus(t, b, ""), "record-all", 1) // the operator reads dead letters
	if r := dead[0].Headers().Get(natsbus.HeaderDeadReason); !strings.Contains(r, "/data/locationType") {
		t.Fatalf("dead-letter reason %q does not name the bad field", r)
	}
	if string(dead[0].Data()) != string(rawBad) {
		t.Fatalf("dead letter lost the original message")
	}
}

func TestHandlerFailuresAreRetriedThenDeadLettered(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	first, second := detention(t, events.NewEpisodeID()), detention(t, events.NewEpisodeID())
	for _, e := range []events.Event{first, second} {
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	attempts := map[string]int{}
	sub, err := bustest.Bus(t, b, events.Record).Consume(ctx, natsbus.ConsumerConfig{
		Durable: "record-flaky", MaxDeliver: 3, Backoff: []time.Duration{10 * time.Millisecond},
	}, func(_ context.Context, e events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[e.ID]++
		if e.ID == first.ID {
			return errors.New("AMHP rota unavailable")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	dead := deadLetters(t, bustest.Bus(t, b, ""), "record-flaky", 1)
	mu.Lock()
	defer mu.Unlock()
	if attempts[first.ID] != 3 || attempts[second.ID] != 1 {
		t.Fatalf("attempts = %v, want 3 for the failing event and 1 for the next", attempts)
	}
	if r := dead[0].Headers().Get(natsbus.HeaderDeadReason); !strings.Contains(r, "AMHP rota unavailable") || !strings.Contains(r, "delivery 3 of 3") {
		t.Fatalf("dead-letter reason = %q", r)
	}
}

// A handoff offered while the record is not answering (the cluster electing
// a leader, a node down) is not dead-lettered after MaxDeliver quick
// failures: a handler failing because a server did not answer is retried
// while the outage lasts, and handled once it ends. One that still fails
// that way after OutageRetry is dead-lettered, saying why.
func TestAHandlerFailingBecauseAServerDidNotAnswerIsRetriedWhileTheOutageLasts(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	offer, never := detention(t, events.NewEpisodeID()), detention(t, events.NewEpisodeID())
	for _, e := range []events.Event{offer, never} {
		if _, err := police.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	attempts := map[string]int{}
	recordBack := make(chan struct{})
	handled := make(chan string, 2)
	sub, err := bustest.Bus(t, b, events.Record).Consume(ctx, natsbus.ConsumerConfig{
		Durable: "amhp-during-outage", MaxDeliver: 3, Backoff: []time.Duration{10 * time.Millisecond}, OutageRetry: 2 * time.Second,
	}, func(_ context.Context, e events.Event) error {
		mu.Lock()
		attempts[e.ID]++
		mu.Unlock()
		select {
		case <-recordBack:
			if e.ID == offer.ID {
				handled <- e.ID
				return nil
			}
		default:
		}
		return fmt.Errorf("read the episode from the record: %w", context.DeadlineExceeded)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	// The outage outlasts MaxDeliver deliveries many times over.
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if attempts[offer.ID] < 10 {
			return fmt.Errorf("the offer was tried %d times", attempts[offer.ID])
		}
		return nil
	})
	close(recordBack)
	select {
	case <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("the offer was not handled once the record answered again")
	}
	// The other message never gets an answer: dead-lettered after the
	// outage bound, not before, and only it.
	dead := deadLetters(t, bustest.Bus(t, b, ""), "amhp-during-outage", 1)
	var got struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(dead[0].Data(), &got); err != nil || got.ID != never.ID {
		t.Fatalf("dead-lettered %s (%v), want only the message that never got an answer (%s)", got.ID, err, never.ID)
	}
	if r := dead[0].Headers().Get(natsbus.HeaderDeadReason); !strings.Contains(r, "deadline exceeded") {
		t.Fatalf("dead-letter reason = %q, want the time-out", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts[never.ID] <= 3 {
		t.Fatalf("the unanswered message was dead-lettered after %d attempts, within MaxDeliver: the outage was not waited for", attempts[never.ID])
	}
}

// When the dead-letter stream cannot take a message (its store is full), the
// message is not skipped once the server has delivered it MaxDeliver times:
// it stays on the consumer and is handled again until it succeeds.
func TestAMessageTheDeadLetterStreamRefusesIsKeptAndHandledLater(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	admin := bustest.Bus(t, b, "")
	// A full dead-letter stream: it holds one message and refuses more.
	if _, err := admin.JetStream().UpdateStream(ctx, jetstream.StreamConfig{Name: natsbus.DeadLetterStream,
		Subjects: []string{events.DeadLetterRoot + ".>"}, Storage: jetstream.FileStorage, Duplicates: time.Hour,
		MaxMsgs: 1, Discard: jetstream.DiscardNew}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.JetStream().Publish(ctx, events.DeadLetterRoot+".earlier", []byte("an earlier dead letter")); err != nil {
		t.Fatal(err)
	}
	police := bustest.Bus(t, b, events.Police)
	e := detention(t, events.NewEpisodeID())
	if _, err := police.Publish(ctx, e); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	attempts, handled := 0, false
	sub, err := bustest.Bus(t, b, events.Record).Consume(ctx, natsbus.ConsumerConfig{
		Durable: "record-dlq-full", MaxDeliver: 2, Backoff: []time.Duration{10 * time.Millisecond},
	}, func(_ context.Context, got events.Event) error {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts <= 5 {
			return errors.New("AMHP rota unavailable")
		}
		handled = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !handled {
			return fmt.Errorf("after %d attempts the event is not handled (MaxDeliver 2, dead-letter stream full)", attempts)
		}
		return nil
	})
	s, err := admin.JetStream().Stream(ctx, natsbus.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Fatalf("the dead-letter stream holds %d messages, want only the earlier one", n)
	}
}

// A consumer made by an earlier crisisbus, which let the server skip a
// message after five deliveries, is updated to redeliver without limit.
func TestAConsumerWithADeliveryLimitIsUpdatedToKeepEveryMessage(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	record := bustest.Bus(t, b, events.Record)
	if _, err := record.JetStream().CreateOrUpdateConsumer(ctx, natsbus.Stream, jetstream.ConsumerConfig{Durable: "record-earlier",
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: 5, FilterSubject: events.AllSubjects()}); err != nil {
		t.Fatal(err)
	}
	sub, err := record.Consume(ctx, natsbus.ConsumerConfig{Durable: "record-earlier"}, func(context.Context, events.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	c, err := record.JetStream().Consumer(ctx, natsbus.Stream, "record-earlier")
	if err != nil {
		t.Fatal(err)
	}
	if md := c.CachedInfo().Config.MaxDeliver; md != -1 {
		t.Fatalf("the server's consumer gives up after %d deliveries, want never (-1)", md)
	}
}

// Every read of an episode (an agency deciding a command reads its state)
// uses a consumer of its own; a stream takes at most 1000 consumers. A busy
// hour's reads in a burst must not use them up.
func TestABurstOfEpisodeReadsDoesNotUseUpTheStreamsConsumers(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	e := detention(t, events.NewEpisodeID())
	if _, err := police.Publish(ctx, e); err != nil {
		t.Fatal(err)
	}
	record := bustest.Bus(t, b, events.Record)
	for i := range 1200 {
		n := 0
		if _, err := record.Replay(ctx, events.EpisodeSubjects(e.Subject), func(events.Event, uint64) error { n++; return nil }, nil); err != nil {
			t.Fatalf("read %d of the episode: %v", i+1, err)
		}
		if n != 1 {
			t.Fatalf("read %d of the episode found %d events, want 1", i+1, n)
		}
	}
}

func TestAcknowledgedEventsSurviveARestartOfTheServer(t *testing.T) {
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	police := bustest.Bus(t, b, events.Police)
	e := detention(t, events.NewEpisodeID())
	ack, err := police.Publish(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	b.Shutdown()

	b2 := bustest.Start(t, dir)
	js := bustest.Bus(t, b2, events.Record).JetStream()
	s, err := js.Stream(t.Context(), natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(t.Context(), ack.Sequence)
	if err != nil {
		t.Fatalf("event at seq %d after restart: %v", ack.Sequence, err)
	}
	got, err := events.Parse(m.Data)
	if err != nil || got.ID != e.ID {
		t.Fatalf("after restart seq %d holds %v (%v), want %s", ack.Sequence, got.ID, err, e.ID)
	}
}

// deadLetters waits for n messages in the dead-letter stream from one consumer.
func deadLetters(t *testing.T, bus *natsbus.Bus, consumer string, n int) []jetstream.Msg {
	t.Helper()
	ctx := t.Context()
	var out []jetstream.Msg
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		c, err := bus.JetStream().OrderedConsumer(ctx, natsbus.DeadLetterStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{events.DeadLetterRoot + "." + consumer + ".>"}})
		if err != nil {
			return err
		}
		batch, err := c.FetchNoWait(100)
		if err != nil {
			return err
		}
		out = out[:0]
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if len(out) != n {
			return fmt.Errorf("%d dead letters for %s, want %d", len(out), consumer, n)
		}
		return nil
	})
	return out
}

// A publish the server refuses for lack of permission fails at once,
// saying so, not after waiting for an acknowledgement that never comes: an
// integrator who connected as the wrong user is told, not left thinking the
// server is down.
func TestAPublishTheServerRefusesFailsAtOnceSayingSo(t *testing.T) {
	b := bustest.Start(t, "")
	// The console's user may publish no event; a bus that publishes as any
	// agency lets the event through the contract, so only the server refuses.
	wrong, err := natsbus.NewBus(bustest.Conn(t, b, events.Agency(rights.Console)), "", bustest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := wrong.Publish(ctx, detention(t, events.NewEpisodeID())); !errors.Is(err, denied.ErrDenied) {
		t.Fatalf("publish as a user who may not: %v, want the server's refusal", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the publish waited until its deadline")
	}
}
