package natsbus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// A bulk load whose messages a server takes and never acknowledges (no
// connection dropped, nothing said) waited for the answers without end:
// a fill of the stream hung for good at 760,000 events. Each message's
// result now says, once PublishAckWait has passed, that the server did
// not answer, and nothing more is waited for.
func TestABatchWhoseAcknowledgementsNeverComeEndsInWords(t *testing.T) {
	defer natsbus.SetPublishAckWait(300 * time.Millisecond)()
	// A server that takes the messages and answers none: a subscriber
	// holds the subject, so nobody says "no responders" either.
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("the server did not start")
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	taken := make(chan struct{}, 16)
	if _, err := nc.Subscribe("crisis.>", func(*nats.Msg) { taken <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	bus, err := natsbus.NewBus(nc, events.Police, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep := events.NewEpisodeID()
	var es []events.Event
	for range 3 {
		e, err := events.New(events.Police, ep, events.TriageRequested{CallerAccount: "control room", Concern: "a person on the bridge"})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}

	done := make(chan []natsbus.BatchResult, 1)
	go func() { done <- bus.PublishBatch(context.Background(), es) }()
	var res []natsbus.BatchResult
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the batch still waits for acknowledgements 10 s after they were due")
	}
	if len(taken) != len(es) {
		t.Fatalf("the server took %d of the %d messages", len(taken), len(es))
	}
	for i, r := range res {
		if r.Err == nil {
			t.Fatalf("fact %d: taken as stored, with no acknowledgement", i+1)
		}
		if r.Refused || !natsbus.Unanswered(r.Err) || !errors.Is(r.Err, jetstream.ErrAsyncPublishTimeout) {
			t.Errorf("fact %d: %v (refused %v), want the server not answering in time", i+1, r.Err, r.Refused)
		}
		if !strings.Contains(r.Err.Error(), es[i].ID) {
			t.Errorf("fact %d: %q does not name the event", i+1, r.Err)
		}
	}
}
