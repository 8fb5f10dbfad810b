package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/denied"
)

// A command may decide more than one fact (an episode opened with who the
// person is and their own words; a follow-up referral accepted with its
// calls scheduled). Published one after another, a process killed between
// them, or a publish whose answer was lost, left the first stored and the
// rest not: the episode accepted by the helpline with no call due, and a
// retry refused because the acceptance is already there. So the facts of
// one command go as one JetStream atomic batch (Nats-Batch-Id,
// Nats-Batch-Sequence, Nats-Batch-Commit on the last): the server stores
// all of them or none, and answers the commit once all are on disk.

const (
	batchIDHeader     = "Nats-Batch-Id"
	batchSeqHeader    = "Nats-Batch-Sequence"
	batchCommitHeader = "Nats-Batch-Commit"
)

// The server's refusals of a batch as such (not of its facts): batches
// switched off on the stream (one provisioned before), or too many in
// flight at once on it. The facts then go one after another, as before.
const (
	errCodeAtomicDisabled        jetstream.ErrorCode = 10174
	errCodeAtomicIncomplete      jetstream.ErrorCode = 10176
	errCodeAtomicTooManyInFlight jetstream.ErrorCode = 10210
	errCodeAtomicDuplicate       jetstream.ErrorCode = 10201
)

// The fallback's reasons, in the log's words.
const (
	whyDisabled = "the event stream was provisioned without atomic batches (run crisisbus up, or serve with the admin's credentials, to update it)"
	whyInFlight = "the server has as many batches open on the event stream as it takes: commands' in flight, or batches an agency's user opened and left open"
)

// stagedWait bounds how long a batch the server called incomplete waits for
// the answers to its staged facts, which say why: the server sends them
// before the commit's, so they are there already.
const stagedWait = 2 * time.Second

// MaxBatch is the most facts one command may store as one batch, and the
// most the server takes in one (the broker's and the cluster's
// JetStream batch limit, with BatchTimeout): an agency's user can start
// batches of its own, and a batch is staged on disk until its commit or
// its time-out, so neither is larger or longer than a command needs.
const (
	MaxBatch     = 32
	BatchTimeout = 5 * time.Second
)

// ErrAlreadyHeld means a fact of an atomic publish has an id a message
// already stored holds: the server took none of the publish now (sent
// before, the facts may be stored already).
var ErrAlreadyHeld = errors.New("a message already stored holds the id of one of these facts, so the server took none of them now (sent before, they may be stored already)")

// PublishAtomic validates every event, then stores them all or none, in
// order, and returns once the server has them on disk; the PubAck is the
// last one's. opts apply to the first (ExpectEpisodeSeq: the episode as it
// was read). One event is Publish. Where the server will not take a batch
// (a stream provisioned before batches, or too many in flight) the events
// are published one after another, as Publish would, and this is logged.
func (b *Bus) PublishAtomic(ctx context.Context, es []events.Event, opts ...PublishOption) (PubAck, error) {
	if len(es) == 1 {
		return b.Publish(ctx, es[0], opts...)
	}
	if len(es) == 0 {
		return PubAck{}, errors.New("publish atomically: no events")
	}
	if len(es) > MaxBatch {
		return PubAck{}, fmt.Errorf("publish atomically: %d facts, more than the %d one command may store", len(es), MaxBatch)
	}
	msgs := make([]*nats.Msg, len(es))
	for i, e := range es {
		m, err := b.message(ctx, e)
		if err != nil {
			return PubAck{}, err
		}
		msgs[i] = m
	}
	var po publishOpts
	for _, o := range opts {
		o(&po)
	}
	batch := uuid.NewString()
	for i, m := range msgs {
		m.Header[batchIDHeader] = []string{batch}
		m.Header[batchSeqHeader] = []string{strconv.Itoa(i + 1)}
		m.Header[jetstream.ExpectedStreamHeader] = []string{Stream}
	}
	if po.episodeSeq != nil {
		msgs[0].Header[jetstream.ExpectedLastSubjSeqHeader] = []string{strconv.FormatUint(*po.episodeSeq, 10)}
		msgs[0].Header[jetstream.ExpectedLastSubjSeqSubjHeader] = []string{events.EpisodeSubjects(es[0].Subject)}
	}
	last := msgs[len(msgs)-1]
	last.Header[batchCommitHeader] = []string{"1"}

	// A refusal for lack of permission, of any of them, ends the wait at once.
	pctx := ctx
	for _, m := range msgs {
		var release func()
		pctx, release = denied.Cancel(pctx, b.nc, m.Subject)
		defer release()
	}
	ep := es[0].Subject
	// All but the last are sent without waiting: the server stages them in
	// order. It answers each on its reply subject, an empty message once
	// staged or why not; those answers are read only when the commit fails
	// as incomplete, which does not say why: the first fact refused as one
	// batch too many in flight, say (any agency's user can hold batches
	// open), when the facts must go one after another instead.
	inbox := b.nc.NewInbox()
	staged, err := b.nc.SubscribeSync(inbox + ".*")
	if err != nil {
		return PubAck{}, fmt.Errorf("publish %d facts for episode %s: %w", len(es), ep, err)
	}
	defer func() { _ = staged.Unsubscribe() }()
	for i, m := range msgs[:len(msgs)-1] {
		m.Reply = inbox + "." + strconv.Itoa(i+1)
		if err := b.nc.PublishMsg(m); err != nil {
			return PubAck{}, fmt.Errorf("publish %d facts for episode %s: %w", len(es), ep, err)
		}
	}
	ack, err := b.js.PublishMsg(pctx, last)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeAtomicIncomplete {
		if why, fact := stagedRefusal(pctx, staged, len(msgs)-1); why != nil {
			err, apiErr = fmt.Errorf("fact %d of %d: %w", fact, len(msgs), why), why
		}
	}
	if err == nil {
		if ce := b.log.Check(zap.DebugLevel, "published atomically"); ce != nil {
			ce.Write(append(traceOf(ctx, es[0]), zap.String("episode", ep), zap.Int("facts", len(es)), zap.Uint64("seq", ack.Sequence))...)
		}
		return PubAck{Sequence: ack.Sequence}, nil
	}
	switch {
	case denied.Refused(pctx):
		return PubAck{}, fmt.Errorf("publish %d facts for episode %s: %w", len(es), ep, denied.ErrDenied)
	case wrongLastSequence(err):
		return PubAck{}, fmt.Errorf("publish %d facts for episode %s: %w", len(es), ep, ErrConflict)
	case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeAtomicDuplicate:
		return PubAck{}, fmt.Errorf("publish %d facts for episode %s: %w", len(es), ep, ErrAlreadyHeld)
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeAtomicDisabled || apiErr.ErrorCode == errCodeAtomicTooManyInFlight):
		why := whyInFlight
		if apiErr.ErrorCode == errCodeAtomicDisabled {
			why = whyDisabled
		}
		b.log.Warn("the server would not take a command's facts as one batch; publishing them one after another (all or none is not assured)",
			zap.String("episode", ep), zap.Int("facts", len(es)), zap.String("why", why), zap.String("cause", apiErr.Description))
		return b.publishInTurn(ctx, es, opts)
	}
	return PubAck{}, fmt.Errorf("publish %d facts for episode %s: %w", len(es), ep, err)
}

// publishInTurn publishes es one after another, opts applying to the first.
func (b *Bus) publishInTurn(ctx context.Context, es []events.Event, opts []PublishOption) (PubAck, error) {
	var ack PubAck
	for i, e := range es {
		var err error
		if i > 0 {
			opts = nil
		}
		if ack, err = b.Publish(ctx, e, opts...); err != nil {
			return PubAck{}, err
		}
	}
	return ack, nil
}

// stagedRefusal is the first refusal among the server's answers to the n
// facts of a batch sent before its commit (sub receives them), and which
// fact it refused (from 1); nil if none refused one.
func stagedRefusal(ctx context.Context, sub *nats.Subscription, n int) (*jetstream.APIError, int) {
	ctx, cancel := context.WithTimeout(ctx, stagedWait)
	defer cancel()
	var first *jetstream.APIError
	fact := 0
	for range n {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break
		}
		if len(m.Data) == 0 {
			continue // staged
		}
		var resp struct {
			Error *jetstream.APIError `json:"error"`
		}
		if json.Unmarshal(m.Data, &resp) != nil || resp.Error == nil {
			continue
		}
		i, _ := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
		if first == nil || i < fact {
			first, fact = resp.Error, i
		}
	}
	return first, fact
}
