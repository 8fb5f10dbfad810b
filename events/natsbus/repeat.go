package natsbus

import (
	"context"
	"encoding/json"
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
// be worked out before it is published (a disclosure's, a clock's breach),
// so another identity may have stored a message of its own under it first.
// A true repeat is on the event's own subject, which only the event's
// publisher may write to; a message anywhere else took the id, and the
// event is published again under a fresh message id (its own id, in the
// event, unchanged) and stored. A bus whose user may not read the stream
// (an agency's), or that cannot read it just now, cannot tell, and takes
// the repeat as it is. opts are the publish's own (the stream expected, an
// episode's sequence).
func (b *Bus) ownRepeat(ctx context.Context, m *nats.Msg, ack PubAck, opts ...jetstream.PublishOpt) (PubAck, error) {
	if !ack.Duplicate || b.cannotRead.Load() {
		return ack, nil
	}
	api := APIPrefix + ".STREAM.MSG.GET." + Stream
	rctx, release := denied.Cancel(ctx, b.nc, api)
	defer release()
	stored, err := b.storedSubject(rctx, api, ack.Sequence)
	episode := m.Header.Get(HeaderEpisode)
	if denied.Refused(rctx) {
		b.cannotRead.Store(true)
		return ack, nil
	}
	id := m.Header.Get(jetstream.MsgIDHeader)
	if err != nil {
		b.log.Warn("could not check that the message already stored under an event's id is that event; taken as a repeat",
			zap.String("episode", episode), zap.String("event_id", id), zap.Uint64("stored_at", ack.Sequence), zap.String("cause", logsafe.Cause(err)))
		return ack, nil
	}
	if stored == m.Subject {
		return ack, nil
	}
	b.log.Warn("an event's id was taken by a message on another subject; published again under a fresh message id",
		zap.String("episode", episode), zap.String("event_id", id), zap.String("subject", m.Subject),
		zap.String("taken_by", stored), zap.Uint64("taken_at", ack.Sequence))
	again := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
	for k, v := range m.Header {
		again.Header[k] = v
	}
	again.Header.Set(jetstream.MsgIDHeader, uuid.NewString())
	pa, err := b.js.PublishMsg(ctx, again, opts...)
	if err != nil {
		return PubAck{}, fmt.Errorf("publish again, its id taken by a message on %s: %w", stored, err)
	}
	return PubAck{Sequence: pa.Sequence}, nil
}

// storedSubject is the subject of the message stored at seq, asked of the
// stream's leader (api, the stream's message get; a direct get may be
// answered by a replica a moment behind, which does not have it yet).
func (b *Bus) storedSubject(ctx context.Context, api string, seq uint64) (string, error) {
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
		return "", fmt.Errorf("read the message at %d: %w", seq, err)
	}
	var resp struct {
		Message *struct {
			Subject string `json:"subject"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return "", fmt.Errorf("read the message at %d: %w", seq, err)
	}
	if resp.Error != nil {
		return "", fmt.Errorf("read the message at %d: %w", seq, resp.Error)
	}
	if resp.Message == nil {
		return "", fmt.Errorf("read the message at %d: the server answered without it", seq)
	}
	return resp.Message.Subject, nil
}
