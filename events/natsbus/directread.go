package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crisisbus/crisisbus/events"

	"github.com/nats-io/nats.go"
)

// directBatch is how many messages one direct get asks for. An episode
// rarely holds more than a few dozen facts, so one request usually reads it
// whole; a longer one takes more requests, never more server state.
const directBatch = 256

// directTimeout bounds one direct-get request (one batch) when the caller's
// context has no deadline, so a read never waits without bound for a server
// that is down.
const directTimeout = 10 * time.Second

// directGetRequest is the JetStream direct-get API's batched request.
type directGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj"`
	Batch   int    `json:"batch"`
}

// ReadRange is Replay over every event stored from stream sequence from up
// to to (0: up to the last), read with batched direct gets: a bulk read
// that creates no consumer, for a projection that folds a run of events
// at once (the record catching up). Unusable messages are skipped and
// dead-lettered as Replay does.
func (b *Bus) ReadRange(ctx context.Context, from, to uint64, fn func(e events.Event, seq uint64) error, skipped func(events.Unreadable)) (uint64, error) {
	// Read the range, check it against the contract on every core (into
	// the events the process found valid, events/checked.go, where usable
	// then finds them), then pass it on in order.
	var stored []Stored
	// By sequence, with no subject filter (the stream holds only events):
	// the server then counts what remains without matching a wildcard
	// against every subject it holds, which under a heavy import took
	// seconds a batch.
	last, err := b.readDirectRange(ctx, "", max(from, 1), to, func(s Stored) error {
		stored = append(stored, s)
		return nil
	})
	if err != nil {
		return last, err
	}
	workers := min(runtime.GOMAXPROCS(0), max(len(stored)/32, 1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(stored); i += workers {
				_, _ = parseStored(stored[i].Subject, stored[i].Raw) // an unusable one is set aside below
			}
		}()
	}
	wg.Wait()
	use := b.usable(ctx, fn, skipped)
	for _, s := range stored {
		if err := use(s); err != nil {
			return last, err
		}
	}
	return last, nil
}

// errRangeEnd ends a direct read at the end of its range.
var errRangeEnd = errors.New("end of the range read")

// readDirectRange calls f, in stream order, with every stored message
// matching filter from stream sequence from (0: the first) up to to (0: the
// last; an empty filter reads every message by sequence, from at least 1), read with JetStream's batched direct gets: the server looks the
// subject up in its per-subject index and answers from the store, so a read
// creates no consumer and costs the same however long the stream is. It
// returns the stream sequence of the last message read (0 if none).
//
// The stream must allow direct gets (Provision sets AllowDirect). In a
// cluster a replica may answer a moment behind the leader: a publish
// conditioned on what was read (ExpectEpisodeSeq) is refused as a conflict
// then, never stored on a stale decision.
func (b *Bus) readDirectRange(ctx context.Context, filter string, from, to uint64, f func(Stored) error) (uint64, error) {
	if filter != "" || from == 0 {
		if err := events.CheckSubject("replay filter", filter); err != nil {
			return 0, fmt.Errorf("replay: %w", err)
		}
	}
	return directRange(ctx, b.nc, Stream, filter, from, to, f)
}

// directRange is readDirectRange on any stream that allows direct gets.
func directRange(ctx context.Context, nc *nats.Conn, stream, filter string, from, to uint64, f func(Stored) error) (uint64, error) {
	_, hasDeadline := ctx.Deadline()
	// A batch is answered with at most directBatch messages and its end
	// marker, and the next is asked for only once that marker is read, so
	// a channel of that size never overflows. (A synchronous subscription
	// would make one of the client's default size, 64K messages: half a
	// megabyte allocated and dropped by every read.)
	answers := make(chan *nats.Msg, directBatch+1)
	inbox := nc.NewInbox()
	sub, err := nc.ChanSubscribe(inbox, answers)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", filter, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	api := APIPrefix + ".DIRECT.GET." + stream
	var last, lastInRange uint64
	if to > 0 {
		inRange := f
		f = func(s Stored) error {
			if s.Seq > to {
				return errRangeEnd
			}
			lastInRange = s.Seq
			return inRange(s)
		}
	}
	for {
		batch := directBatch
		if to > 0 {
			batch = int(min(uint64(directBatch), to-min(to, from)+1))
		}
		req, _ := json.Marshal(directGetRequest{Seq: from, NextFor: filter, Batch: batch})
		if err := nc.PublishRequest(api, inbox, req); err != nil {
			return last, fmt.Errorf("read %s: %w", filter, err)
		}
		// Each request is bounded, not the whole read: while an import
		// keeps the server busy a batch can take seconds to answer.
		bctx, cancel := ctx, context.CancelFunc(func() {})
		if !hasDeadline {
			bctx, cancel = context.WithTimeout(ctx, directTimeout)
		}
		more, err := readBatch(bctx, answers, filter, &last, f)
		cancel()
		if errors.Is(err, errRangeEnd) {
			return lastInRange, nil
		}
		if err != nil || !more || (to > 0 && last >= to) {
			return last, err
		}
		from = last + 1
	}
}

// readBatch reads one batch's answers up to its end-of-batch marker and
// says whether messages matching the filter remain after it.
func readBatch(ctx context.Context, answers <-chan *nats.Msg, filter string, last *uint64, f func(Stored) error) (bool, error) {
	for {
		var msg *nats.Msg
		select {
		case msg = <-answers:
		case <-ctx.Done():
			return false, fmt.Errorf("read %s: the server did not answer: %w", filter, ctx.Err())
		}
		if status := msg.Header.Get("Status"); status != "" {
			switch status {
			case "204": // end of batch
				pending, _ := strconv.ParseUint(msg.Header.Get("Nats-Num-Pending"), 10, 64)
				return pending > 0, nil
			case "404": // nothing (more) stored matches
				return false, nil
			default:
				return false, fmt.Errorf("read %s: the server refused a direct get: %s %s", filter, status, msg.Header.Get("Description"))
			}
		}
		seq, err := strconv.ParseUint(msg.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return false, fmt.Errorf("read %s: a direct get answered without a sequence: %w", filter, err)
		}
		*last = seq
		if err := f(Stored{Seq: seq, Subject: msg.Header.Get("Nats-Subject"), Raw: msg.Data, Header: msg.Header}); err != nil {
			return false, err
		}
	}
}

// ReadKeys calls f with the live keys of a key-value bucket (history 1)
// that match filter, a subject wildcard under the bucket ("name.sam.>"),
// and their values, in the order they were written, read with batched
// direct gets as an episode is: no consumer is made, and at most limit keys
// are read, so a read costs the same however large the bucket grows. more
// says that other keys match. Deleted and purged keys are skipped.
func ReadKeys(ctx context.Context, nc *nats.Conn, bucket, filter string, limit int, f func(key string, value []byte) error) (more bool, err error) {
	prefix := "$KV." + bucket + "."
	n := 0
	_, err = directRange(ctx, nc, "KV_"+bucket, prefix+filter, 0, 0, func(s Stored) error {
		if op := s.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return nil
		}
		if n == limit {
			more = true
			return errRangeEnd
		}
		n++
		return f(strings.TrimPrefix(s.Subject, prefix), s.Raw)
	})
	if errors.Is(err, errRangeEnd) {
		err = nil
	}
	return more, err
}
