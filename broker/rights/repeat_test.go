package rights_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The record's repeat check (crisisbus.record.<agency>.repeat) tells an
// agency's service whether the message a publish was answered with as a
// repeat is its own. A police user asks it what it likes: it must learn
// nothing of another agency's messages, be refused a subject that no
// message of its own could have (a wildcard, spaces, any length), and
// never have the record warn the operator that an id was taken when none
// was, nor put what it typed into the record's log. The record warns only
// when the message at the sequence holds the very id asked about.
func TestARepeatCheckSaysNothingOfOthersAndWarnsOnlyOfAnIDTaken(t *testing.T) {
	ctx, sys, logs := startSystemLogged(t)
	police := dial(t, sys, string(events.Police))
	spoa := dial(t, sys, string(events.SPoA))
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, spoa.nc, agency.Subject(events.SPoA, "open"), agency.OpenRequest{
		Actor: "SPoA clinician 2", Channel: "111", Summary: "a person in crisis calling from home"})
	if err != nil {
		t.Fatal(err)
	}
	at, spoaID := opened.Receipt.Sequence, opened.Receipt.Events[0]
	ask := func(c *client, a events.Agency, req record.RepeatRequest) (record.RepeatResponse, error) {
		return rpc.Call[record.RepeatRequest, record.RepeatResponse](ctx, c.nc, record.RepeatSubject(a), req)
	}
	const typed = "Jane Doe, born 1990, says she will jump"
	for _, subject := range []string{
		"crisis.police. " + typed,
		"crisis.police." + strings.Repeat("x", 100_000),
		"crisis.police.>",
		"crisis.police.*.*",
		"crisis.police." + opened.Episode + ".*",
		"crisis.police",
		"crisis.policex." + opened.Episode + ".episode_opened_v1",
		"crisis.spoa." + opened.Episode + ".episode_opened_v1",
	} {
		resp, err := ask(police, events.Police, record.RepeatRequest{Subject: subject, EventID: spoaID, Sequence: at})
		if rpc.CodeOf(err) != rpc.BadRequest || resp.Own {
			t.Errorf("police asking about %.60q at %d: %+v %v, want it refused as no subject of theirs", subject, at, resp, err)
		}
	}
	// Police's own subjects, at SPoA's message, at sequences of nothing.
	for _, seq := range []uint64{at, at + 1_000_000, 1 << 62, ^uint64(0)} {
		resp, err := ask(police, events.Police, record.RepeatRequest{Subject: "crisis.police." + opened.Episode + ".episode_opened_v1", EventID: uuid.NewString(), Sequence: seq})
		if err != nil || resp.Own {
			t.Errorf("police asking about its own subject at %d: %+v %v, want not its own", seq, resp, err)
		}
	}
	if _, err := ask(police, events.SPoA, record.RepeatRequest{Subject: "crisis.spoa." + opened.Episode + ".episode_opened_v1", EventID: spoaID, Sequence: at}); err == nil {
		t.Error("police asked SPoA's repeat check and were answered")
	}
	const taken = "a fact's id was taken by a message on another subject; its agency stores it again"
	if n := logs.FilterMessage(taken).Len(); n != 0 {
		t.Errorf("the record warned %d times that an id was taken, when police only asked", n)
	}
	for _, e := range logs.All() {
		// What police typed, in the record's log or anyone's.
		if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, "Jane Doe") || strings.Contains(line, "xxxxxxxxxx") {
			t.Errorf("the log holds what police typed: %.200s", line)
		}
	}
	warnedBefore := logs.FilterMessage(taken).Len()

	// An id truly taken: police store a message of their own under the id
	// SPoA's next fact will have; SPoA's check is told it is not its own,
	// and the operator is warned, naming where.
	next := uuid.NewString()
	js, err := natsbus.NewJetStream(police.nc)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("crisis.police." + events.NewEpisodeID() + ".note_v1")
	m.Header.Set(jetstream.MsgIDHeader, next)
	m.Data = []byte(`{}`)
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ask(spoa, events.SPoA, record.RepeatRequest{Subject: "crisis.spoa." + opened.Episode + ".person_voice_recorded_v1", EventID: next, Sequence: ack.Sequence})
	if err != nil || resp.Own {
		t.Fatalf("SPoA asking about the message that took its fact's id: %+v %v, want not its own", resp, err)
	}
	if n := logs.FilterMessage(taken).Len() - warnedBefore; n != 1 {
		t.Fatalf("the record warned %d times that SPoA's fact's id was taken, want once", n)
	}
}

// An integrator's publish run twice stores its event once, though another
// agency took the event's id first: the first run stores it under a fresh
// message id (the record says the id was taken), and the second finds
// that copy on its own subject and stores nothing more.
func TestAnEventWhoseIDWasTakenIsStoredOnceThoughPublishedTwice(t *testing.T) {
	ctx, sys := startSystem(t)
	spoa := dial(t, sys, string(events.SPoA))
	police := dial(t, sys, string(events.Police))
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, spoa.nc, agency.Subject(events.SPoA, "open"), agency.OpenRequest{
		Actor: "SPoA clinician 2", Channel: "111", Summary: "a person in crisis calling from home"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.New(events.SPoA, opened.Episode, &events.PersonVoiceRecorded{OwnWords: "I want someone to call me back tonight"})
	if err != nil {
		t.Fatal(err)
	}
	js, err := natsbus.NewJetStream(police.nc)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("crisis.police." + events.NewEpisodeID() + ".note_v1")
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}

	bus, err := natsbus.NewBus(spoa.nc, events.SPoA, nil)
	if err != nil {
		t.Fatal(err)
	}
	bus.CheckRepeatsWith(record.RepeatChecker(bus))
	first, err := bus.Publish(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	second, err := bus.Publish(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Duplicate || second.Sequence != first.Sequence {
		t.Errorf("the second publish: stored at %d (repeat: %v), want a repeat of the first, stored at %d", second.Sequence, second.Duplicate, first.Sequence)
	}
	admin, err := natsbus.NewBus(dial(t, sys, rights.Admin).nc, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	copies := 0
	if _, err := admin.Replay(ctx, events.EpisodeSubjects(opened.Episode), func(got events.Event, _ uint64) error {
		if got.ID == e.ID {
			copies++
		}
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if copies != 1 {
		t.Errorf("the episode holds %d copies of the event published twice, want 1", copies)
	}
}
