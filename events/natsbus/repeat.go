package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/internal/denied"
	"github.com/crisisbus/crisisbus/internal/logsafe"
)

// ownRepeat checks a publish the server answered as a repeat: it already
// holds a message with the event's id (Nats-Msg-Id). The stream drops a
// repeat by its id alone, whoever stored the first, and an event's id can
// be worked out before it is published (a disclosure's, a clock's breach,
// a handoff's acknowledgement), so another identity may have stored a
// message of its own under it first. A true repeat is on the event's own
// subject, which only the event's publisher may write to, at the sequence
// answered or, when the id was taken before and the event published again
// under a fresh message id, where that copy is (HeldOn): a publish run
// twice stores one copy. Otherwise the id was taken, and the event is
// published again under a fresh message id (its own id, in the event,
// unchanged) and stored. A bus whose user may not read the stream (an
// agency's) asks its RepeatCheck (the record, which may); without one, or
// when the check cannot be made just now, the repeat is taken as it is.
// opts are the publish's own (the stream expected, an episode's sequence).
func (b *Bus) ownRepeat(ctx context.Context, m *nats.Msg, ack PubAck, opts ...jetstream.PublishOpt) (PubAck, error) {
	if !ack.Duplicate {
		return ack, nil
	}
	check := b.repeatCheck.Load()
	if check == nil && b.cannotRead.Load() {
		return ack, nil
	}
	episode := m.Header.Get(HeaderEpisode)
	var at uint64
	var err error
	id := m.Header.Get(jetstream.MsgIDHeader)
	if check != nil {
		at, err = (*check)(ctx, m.Subject, id, ack.Sequence)
	} else {
		api := APIPrefix + ".STREAM.MSG.GET." + Stream
		rctx, release := denied.Cancel(ctx, b.nc, api)
		var stored string
		if stored, _, err = b.storedAt(rctx, api, ack.Sequence); notFound(err) {
			stored, err = "", nil
		}
		refused := denied.Refused(rctx)
		release()
		switch {
		case refused:
			b.cannotRead.Store(true)
			return ack, nil
		case err == nil && stored == m.Subject:
			at = ack.Sequence
		case err == nil:
			at, err = b.HeldOn(ctx, m.Subject, id)
		}
	}
	if err != nil {
		b.log.Warn("could not check that the message already stored under an event's id is that event; taken as a repeat",
			zap.String("episode", episode), zap.String("event_id", id), zap.Uint64("stored_at", ack.Sequence), zap.String("cause", logsafe.Cause(err)))
		return ack, nil
	}
	if at != 0 {
		return PubAck{Sequence: at, Duplicate: true}, nil
	}
	b.log.Warn("an event's id was taken by a message on another subject; published again under a fresh message id",
		zap.String("episode", episode), zap.String("event_id", id), zap.String("subject", m.Subject),
		zap.Uint64("taken_at", ack.Sequence))
	again := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
	for k, v := range m.Header {
		again.Header[k] = v
	}
	again.Header.Set(jetstream.MsgIDHeader, uuid.NewString())
	pa, err := b.js.PublishMsg(ctx, again, opts...)
	if err != nil {
		return PubAck{}, fmt.Errorf("publish again, its id taken by the message at %d: %w", ack.Sequence, err)
	}
	return PubAck{Sequence: pa.Sequence}, nil
}

// HeldOn is the stream sequence of the event with id id on exactly subject,
// 0 if none: an event published again under a fresh message id keeps its
// own id in the event. It reads only that subject's messages (one
// episode's facts of one type), with direct gets.
func (b *Bus) HeldOn(ctx context.Context, subject, id string) (uint64, error) {
	var at uint64
	_, err := b.readDirectRange(ctx, subject, 0, 0, func(s Stored) error {
		if e, err := parseStored(s.Subject, s.Raw); err == nil && e.ID == id {
			at = s.Seq
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read the messages on %s: %w", subject, err)
	}
	return at, nil
}

// notFound reports whether err is the stream saying it holds no message at
// the sequence asked.
func notFound(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && ae.ErrorCode == jetstream.JSErrCodeMessageNotFound
}

// RepeatCheck says where the stream holds the fact a publish to subject,
// with the message id id, was answered as a repeat of the message at seq,
// for a bus whose user may not read the stream: seq when that message is
// on subject, or where a copy published again under a fresh id is; 0 when
// the fact is not stored (the id was taken).
type RepeatCheck func(ctx context.Context, subject, id string, seq uint64) (uint64, error)

// CheckRepeatsWith makes this bus ask check whether a publish answered as
// a repeat was its own (ownRepeat): for an agency's bus, whose user may not
// read the stream, the record answers (record.RepeatChecker).
func (b *Bus) CheckRepeatsWith(check RepeatCheck) { b.repeatCheck.Store(&check) }

// StoredAt is the subject and the message id (Nats-Msg-Id; "" if none, or
// unreadable) of the message the stream holds at seq, for a bus whose user
// may read the stream (the record's, answering an agency's RepeatCheck).
func (b *Bus) StoredAt(ctx context.Context, seq uint64) (subject, id string, err error) {
	return b.storedAt(ctx, APIPrefix+".STREAM.MSG.GET."+Stream, seq)
}

// storedAt is the subject and message id of the message stored at seq,
// asked of the stream's leader (api, the stream's message get; a direct get
// may be answered by a replica a moment behind, which does not have it yet).
func (b *Bus) storedAt(ctx context.Context, api string, seq uint64) (subject, id string, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, directTimeout)
		defer cancel()
	}
	req, _ := json.Marshal(struct {
		Seq uint64 `json:"seq"`
	}{seq})
	msg, err := b.nc.RequestWithContext(ctx, api, req)
	if err != nil {
		return "", "", fmt.Errorf("read the message at %d: %w", seq, err)
	}
	var resp struct {
		Message *struct {
			Subject string `json:"subject"`
			Header  []byte `json:"hdrs"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return "", "", fmt.Errorf("read the message at %d: %w", seq, err)
	}
	if resp.Error != nil {
		return "", "", fmt.Errorf("read the message at %d: %w", seq, resp.Error)
	}
	if resp.Message == nil {
		return "", "", fmt.Errorf("read the message at %d: the server answered without it", seq)
	}
	// Headers that do not parse (any user may store a message with headers
	// of its own making) leave the id unknown: the subject, which the
	// server set, is what a repeat check turns on.
	if h, err := nats.DecodeHeadersMsg(resp.Message.Header); err == nil {
		id = h.Get(jetstream.MsgIDHeader)
	}
	return resp.Message.Subject, id, nil
}
