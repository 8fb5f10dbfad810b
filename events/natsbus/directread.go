package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/crisisbus/crisisbus/events"

	"github.com/nats-io/nats.go"
)

// directBatch is how many messages one direct get asks for. An episode
// rarely holds more than a few dozen facts, so one request usually reads it
// whole; a longer one takes more requests, never more server state.
const directBatch = 256

// directTimeout bounds one direct-get request when the caller's context has
// no deadline, so a read never waits without bound for a server that is down.
const directTimeout = 10 * time.Second

// directGetRequest is the JetStream direct-get API's batched request.
type directGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj"`
	Batch   int    `json:"batch"`
}

// readDirect calls f, in stream order, with every stored message matching
// filter, read with JetStream's batched direct gets: the server looks the
// subject up in its per-subject index and answers from the store, so a read
// creates no consumer and costs the same however long the stream is. It
// returns the stream sequence of the last message read (0 if none).
//
// The stream must allow direct gets (Provision sets AllowDirect). In a
// cluster a replica may answer a moment behind the leader: a publish
// conditioned on what was read (ExpectEpisodeSeq) is refused as a conflict
// then, never stored on a stale decision.
func (b *Bus) readDirect(ctx context.Context, filter string, f func(Stored) error) (uint64, error) {
	if err := events.CheckSubject("replay filter", filter); err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, directTimeout)
		defer cancel()
	}
	inbox := b.nc.NewInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", filter, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	api := "$JS.API.DIRECT.GET." + Stream
	var last uint64
	from := uint64(0)
	for {
		req, _ := json.Marshal(directGetRequest{Seq: from, NextFor: filter, Batch: directBatch})
		if err := b.nc.PublishRequest(api, inbox, req); err != nil {
			return last, fmt.Errorf("read %s: %w", filter, err)
		}
		more, err := b.readBatch(ctx, sub, filter, &last, f)
		if err != nil || !more {
			return last, err
		}
		from = last + 1
	}
}

// readBatch reads one batch's answers up to its end-of-batch marker and
// says whether messages matching the filter remain after it.
func (b *Bus) readBatch(ctx context.Context, sub *nats.Subscription, filter string, last *uint64, f func(Stored) error) (bool, error) {
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return false, fmt.Errorf("read %s: the server did not answer: %w", filter, err)
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
		if err := f(Stored{Seq: seq, Subject: msg.Header.Get("Nats-Subject"), Raw: msg.Data}); err != nil {
			return false, err
		}
	}
}
