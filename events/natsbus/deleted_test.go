package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// TestAConsumerDeletedUnderARunningServiceIsMadeAgainWhereItWas: someone
// deletes an agency's durable consumer on the server (a NATS tool, a
// mistyped command) while its service runs. The service says so in words,
// makes the consumer again from where it was, and handles what is offered
// after, without handling again what it had handled before.
func TestAConsumerDeletedUnderARunningServiceIsMadeAgainWhereItWas(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	core, logs := observer.New(zapcore.WarnLevel)
	amhp, err := natsbus.NewBus(bustest.Conn(t, b, events.AMHP), events.AMHP, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	admin := bustest.Bus(t, b, "")

	offer := offerer(t, police)
	var got received
	sub, err := amhp.Consume(ctx, natsbus.ConsumerConfig{Durable: "amhp-inbox", Filters: []string{events.InboxSubjects(events.AMHP)}},
		func(_ context.Context, e events.Event) error { got.add(e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	first := offer()
	bustest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if !slices.Contains(got.list(), first.ID) {
			return fmt.Errorf("the first offer was not handled: %v", got.list())
		}
		return nil
	})

	if err := admin.JetStream().DeleteConsumer(ctx, natsbus.Stream, "amhp-inbox"); err != nil {
		t.Fatalf("delete the consumer: %v", err)
	}
	second := offer()
	bustest.CheckFor(t, 90*time.Second, 50*time.Millisecond, func() error {
		if !slices.Contains(got.list(), second.ID) {
			return fmt.Errorf("the offer made after the consumer was deleted was not handled: %v", got.list())
		}
		return nil
	})
	if n := len(got.list()); n != 2 {
		t.Errorf("handled %v, want each offer once", got.list())
	}
	if _, err := admin.JetStream().Consumer(ctx, natsbus.Stream, "amhp-inbox"); err != nil {
		t.Errorf("the consumer is not there again: %v", err)
	}
	// The service says so once it has the consumer again (a moment after
	// the consumer made again delivers).
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, l := range logs.All() {
			if strings.Contains(l.Message, "deleted") && strings.Contains(l.Message, "made again") {
				return nil
			}
		}
		return fmt.Errorf("the log does not say the consumer was deleted and made again: %v", logs.All())
	})
	// A restart of the service takes the consumer as it now is.
	sub.Stop()
	sub2, err := amhp.Consume(ctx, natsbus.ConsumerConfig{Durable: "amhp-inbox", Filters: []string{events.InboxSubjects(events.AMHP)}},
		func(_ context.Context, e events.Event) error { got.add(e); return nil })
	if err != nil {
		t.Fatalf("consume again after a restart: %v", err)
	}
	defer sub2.Stop()
	third := offer()
	bustest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if !slices.Contains(got.list(), third.ID) {
			return fmt.Errorf("the offer after the restart was not handled: %v", got.list())
		}
		return nil
	})
	if n := len(got.list()); n != 3 {
		t.Errorf("handled %v, want each offer once", got.list())
	}
}

// TestAConsumerDeletedWhileItsServiceWasCutOffIsMadeAgainOnReconnect: the
// AMHP service's connection to NATS is down (a network cut, a server
// restarted without the consumer) and meanwhile its durable consumer is
// deleted on the server. Once the connection is back the service finds its
// consumer gone, says so at error level, makes it again from where it was,
// and handles what was offered during the cut and after: nothing is handled
// twice and nothing acknowledged to the police is lost.
func TestAConsumerDeletedWhileItsServiceWasCutOffIsMadeAgainOnReconnect(t *testing.T) {
	ctx := t.Context()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	admin := bustest.Bus(t, b, "")
	link := cuttable(t, b.URL())
	core, logs := observer.New(zapcore.WarnLevel)
	nc, err := broker.ConnectAs(link.url, b.Credentials(), events.AMHP)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	amhp, err := natsbus.NewBus(nc, events.AMHP, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	var got received
	offer := offerer(t, police)
	handled := func(within time.Duration, want ...events.Event) {
		t.Helper()
		bustest.CheckFor(t, within, 50*time.Millisecond, func() error {
			for _, e := range want {
				if !slices.Contains(got.list(), e.ID) {
					return fmt.Errorf("offer %s was not handled; handled %v", e.ID, got.list())
				}
			}
			return nil
		})
	}
	sub, err := amhp.Consume(ctx, natsbus.ConsumerConfig{Durable: "amhp-inbox", Filters: []string{events.InboxSubjects(events.AMHP)}},
		func(_ context.Context, e events.Event) error { got.add(e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	first := offer()
	handled(30*time.Second, first)

	link.cut()
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if nc.IsConnected() {
			return errors.New("the AMHP service is still connected")
		}
		return nil
	})
	if err := admin.JetStream().DeleteConsumer(ctx, natsbus.Stream, "amhp-inbox"); err != nil {
		t.Fatalf("delete the consumer: %v", err)
	}
	duringCut := offer()
	link.restore()
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !nc.IsConnected() {
			return errors.New("the AMHP service has not reconnected")
		}
		return nil
	})
	after := offer()
	handled(90*time.Second, duringCut, after)
	if ids := got.list(); len(ids) != 3 {
		t.Errorf("handled %v, want each of the 3 offers once", ids)
	}
	if _, err := admin.JetStream().Consumer(ctx, natsbus.Stream, "amhp-inbox"); err != nil {
		t.Errorf("the consumer is not there again: %v", err)
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		said := 0
		for _, l := range logs.All() {
			if l.Level == zapcore.ErrorLevel && strings.Contains(l.Message, "deleted") && strings.Contains(l.Message, "making it again") {
				said++
			}
		}
		if said != 1 {
			return fmt.Errorf("%d errors in the log say the consumer was deleted and is made again, want 1: %v", said, logs.All())
		}
		return nil
	})
}

// offerer publishes, as police, an MHA assessment offered to AMHP on a new
// episode each time it is called.
func offerer(t *testing.T, police *natsbus.Bus) func() events.Event {
	return func() events.Event {
		t.Helper()
		e := offerTo(t, events.NewEpisodeID(), events.AMHP)
		if _, err := police.Publish(t.Context(), e); err != nil {
			t.Fatalf("publish: %v", err)
		}
		return e
	}
}

// link is a TCP path to a NATS server that a test can cut and restore, as
// a network cut between one service and the server. pipe, if set, carries
// each connection (client c, server s) instead of copying both ways.
type link struct {
	url    string
	addr   string
	target string
	pipe   func(c, s net.Conn)
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

// cuttable opens a link to the server at serverURL (nats://host:port).
func cuttable(t *testing.T, serverURL string) *link { return linkWith(t, serverURL, nil) }

// linkWith is cuttable, each connection carried by pipe.
func linkWith(t *testing.T, serverURL string, pipe func(c, s net.Conn)) *link {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &link{addr: ln.Addr().String(), target: u.Host, pipe: pipe}
	l.url = "nats://" + l.addr
	l.serve(ln)
	t.Cleanup(l.cut)
	return l
}

func (l *link) serve(ln net.Listener) {
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", l.target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns = append(l.conns, c, s)
			l.mu.Unlock()
			if l.pipe != nil {
				go l.pipe(c, s)
				continue
			}
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// cut closes the link and every connection through it; nothing connects
// until restore.
func (l *link) cut() {
	l.mu.Lock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	l.mu.Unlock()
	l.drop()
}

// drop closes every connection through the link; new ones are carried.
func (l *link) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

// restore opens the link again on the same address.
func (l *link) restore() {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		panic(fmt.Sprintf("listen again on %s: %v", l.addr, err))
	}
	l.serve(ln)
}
