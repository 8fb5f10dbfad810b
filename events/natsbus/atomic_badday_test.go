package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// What a batch relay does when a command's commit passes through it.
type atCommit int

const (
	dropCommit   atCommit = iota // the connection is cut; the commit never reaches the server
	holdCommit                   // the staged facts reach the server; the commit waits until the connection is cut
	loseTheReply                 // the commit reaches the server; its answer is lost with the connection
)

// batchRelay is a TCP path to a NATS server (a link) that does something
// to the first atomic batch's commit it carries (a network cut at the
// worst moment), then carries everything as usual, new connections
// included.
type batchRelay struct {
	*link
	do      atCommit
	armed   atomic.Bool
	reached chan struct{} // closed once the commit was seen
}

func relayBatches(t *testing.T, serverURL string, do atCommit) *batchRelay {
	t.Helper()
	r := &batchRelay{do: do, reached: make(chan struct{})}
	r.armed.Store(true)
	r.link = linkWith(t, serverURL, r.carry)
	return r
}

// carry carries one connection (client c, server s), acting on the first
// commit.
func (r *batchRelay) carry(c, s net.Conn) {
	var mute atomic.Bool
	go func() { // server to client
		buf := make([]byte, 32<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 && !mute.Load() {
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
	}()
	// client to server
	defer s.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if i := bytes.Index(chunk, []byte("Nats-Batch-Commit")); i >= 0 && r.armed.CompareAndSwap(true, false) {
				before := chunk[:max(bytes.LastIndex(chunk[:i], []byte("HPUB ")), 0)]
				switch r.do {
				case dropCommit:
					_, _ = s.Write(before)
					close(r.reached)
					r.drop()
					return
				case holdCommit:
					_, _ = s.Write(before)
					close(r.reached)
					_, _ = io.Copy(io.Discard, c) // until the test cuts the connection
					return
				case loseTheReply:
					mute.Store(true)
					_, _ = s.Write(chunk)
					time.Sleep(500 * time.Millisecond) // the server stores the batch and answers into the void
					close(r.reached)
					r.drop()
					return
				}
			}
			if _, werr := s.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// detainedAndAsked is a command's two facts on a new episode: a detention
// and the place of safety asked for.
func detainedAndAsked(t *testing.T) []events.Event {
	t.Helper()
	ep := events.NewEpisodeID()
	asked, err := events.New(events.Police, ep, &events.PlaceOfSafetyRequested{Notes: "needs a health-based place of safety"})
	if err != nil {
		t.Fatal(err)
	}
	return []events.Event{detention(t, ep), asked}
}

// policeThrough connects the police's bus to the server through the relay.
func policeThrough(t *testing.T, b *broker.Broker, r *batchRelay) *natsbus.Bus {
	t.Helper()
	nc, err := broker.ConnectAs(r.url, b.Credentials(), events.Police)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	bus, err := natsbus.NewBus(nc, events.Police, bustest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

// publishWithin publishes es atomically, the caller waiting at most 5 s,
// and says how long the answer took.
func publishWithin(t *testing.T, bus *natsbus.Bus, es []events.Event) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	began := time.Now()
	_, err := bus.PublishAtomic(ctx, es, natsbus.ExpectEpisodeSeq(0))
	return time.Since(began), err
}

// nothingStoredAfterTheBatchTimeout checks, once a batch left staged has
// timed out on the server, that the stream holds nothing of episode ep.
func nothingStoredAfterTheBatchTimeout(t *testing.T, admin *natsbus.Bus, ep string) {
	t.Helper()
	time.Sleep(natsbus.BatchTimeout + time.Second)
	if ids := stored(t, admin, ep); len(ids) != 0 {
		t.Fatalf("the command failed, yet episode %s holds %v: half a command stored", ep, ids)
	}
}

// retriedWhole publishes es again and checks the episode then holds them
// each once, in order.
func retriedWhole(t *testing.T, bus, admin *natsbus.Bus, es []events.Event) {
	t.Helper()
	var err error
	bustest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		_, err = publishWithin(t, bus, es)
		return err
	})
	ids := stored(t, admin, es[0].Subject)
	if len(ids) != len(es) || ids[0] != es[0].ID || ids[1] != es[1].ID {
		t.Fatalf("after the retry episode %s holds %v, want [%s %s] once each", es[0].Subject, ids, es[0].ID, es[1].ID)
	}
}

// inWords fails the test unless err says, for a person, what failed.
func inWords(t *testing.T, err error, es []events.Event) {
	t.Helper()
	if err == nil {
		t.Fatal("the command was answered as stored")
	}
	if !strings.Contains(err.Error(), "publish 2 facts for episode "+es[0].Subject) {
		t.Errorf("the caller was told %q, which does not say which command failed", err)
	}
}

// TestACommandWhoseConnectionIsCutBeforeItsCommitStoresNothing: the
// police service's connection is cut after a command's first fact went to
// the server and before its commit did. The service is told within the
// caller's time; nothing of the command is stored, then or once the
// server's batch time-out has passed; the command tried again is stored
// whole, once.
func TestACommandWhoseConnectionIsCutBeforeItsCommitStoresNothing(t *testing.T) {
	b := bustest.Start(t, "")
	admin := bustest.Bus(t, b, "")
	r := relayBatches(t, b.URL(), dropCommit)
	police := policeThrough(t, b, r)
	es := detainedAndAsked(t)

	took, err := publishWithin(t, police, es)
	select {
	case <-r.reached:
	default:
		t.Fatal("the command's commit never went through the relay")
	}
	t.Logf("a command cut before its commit was answered in %s: %v", took.Round(time.Millisecond), err)
	inWords(t, err, es)
	nothingStoredAfterTheBatchTimeout(t, admin, es[0].Subject)
	retriedWhole(t, police, admin, es)
}

// TestACommandWhoseAnswerIsLostIsStoredWhole: the commit reaches the
// server, which stores the batch, and the connection is cut before its
// answer comes back. The service is told within the caller's time; the
// episode holds the whole command, not part of it; trying the same facts
// again does not store them twice.
func TestACommandWhoseAnswerIsLostIsStoredWhole(t *testing.T) {
	b := bustest.Start(t, "")
	admin := bustest.Bus(t, b, "")
	r := relayBatches(t, b.URL(), loseTheReply)
	police := policeThrough(t, b, r)
	es := detainedAndAsked(t)

	took, err := publishWithin(t, police, es)
	t.Logf("a command whose answer was lost was answered in %s: %v", took.Round(time.Millisecond), err)
	inWords(t, err, es)
	if ids := stored(t, admin, es[0].Subject); len(ids) != 2 {
		t.Fatalf("episode %s holds %v, want the whole command", es[0].Subject, ids)
	}
	took, err = publishWithin(t, police, es)
	t.Logf("the same facts again: %s: %v", took.Round(time.Millisecond), err)
	if ids := stored(t, admin, es[0].Subject); len(ids) != 2 {
		t.Fatalf("after the same facts again episode %s holds %v, want them once", es[0].Subject, ids)
	}
}

// TestACommandStagedWhenTheServerStopsStoresNothing: the server stops (a
// node restarted) while a command's first fact is staged and before its
// commit arrives; it is started again on its data. The service is told
// within the caller's time; nothing of the command is stored, then or
// after the batch time-out; the stream takes the command tried again
// whole, once, and other commands as before.
func TestACommandStagedWhenTheServerStopsStoresNothing(t *testing.T) {
	b := bustest.Start(t, "")
	r := relayBatches(t, b.URL(), holdCommit)
	police := policeThrough(t, b, r)
	es := detainedAndAsked(t)

	type answer struct {
		took time.Duration
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		took, err := publishWithin(t, police, es)
		done <- answer{took, err}
	}()
	select {
	case <-r.reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the command's commit never reached the relay")
	}
	b.Shutdown()
	r.drop()
	again := bustest.StartAgain(t, b)
	a := <-done
	t.Logf("a command staged when the server stopped was answered in %s: %v", a.took.Round(time.Millisecond), a.err)
	inWords(t, a.err, es)
	admin := bustest.Bus(t, again, "")
	nothingStoredAfterTheBatchTimeout(t, admin, es[0].Subject)
	retriedWhole(t, police, admin, es)
	other := detainedAndAsked(t)
	if _, err := publishWithin(t, police, other); err != nil {
		t.Fatalf("another command after the restart: %v", err)
	}
	if ids := stored(t, admin, other[0].Subject); len(ids) != 2 {
		t.Fatalf("episode %s holds %v, want the whole command", other[0].Subject, ids)
	}
	if errors.Is(a.err, natsbus.ErrAlreadyHeld) {
		t.Errorf("the caller was told %q", a.err)
	}
}
