package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/denied"
	"github.com/crisisbus/crisisbus/internal/fifo"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// Stream names.
const (
	// Stream holds every event: the source of truth every view is rebuilt from.
	Stream = "CRISIS"
	// DeadLetterStream keeps every message a consumer could not handle, with the reason.
	DeadLetterStream = "CRISIS_DEADLETTER"
)

// APIPrefix is where crisisbus's clients call the JetStream API: the
// identities' account has no JetStream of its own, and reaches the store's
// API (in the account that holds the streams) under this prefix, so that
// nothing JetStream sends from inside the server, to a reply subject a
// client chose, lands on the store's API (broker/rights). Every JetStream
// client of crisisbus is made with NewJetStream.
const APIPrefix = "$JS.STORE.API"

// NewJetStream is a JetStream client calling the store's API (APIPrefix).
func NewJetStream(nc *nats.Conn, opts ...jetstream.JetStreamOpt) (jetstream.JetStream, error) {
	return jetstream.NewWithAPIPrefix(nc, APIPrefix, opts...)
}

// Headers crisisbus sets on messages.
const (
	HeaderType    = "Crisis-Type"
	HeaderEpisode = "Crisis-Episode"
	// Dead-letter headers: why, which consumer, and where the message was.
	HeaderDeadReason     = "Crisis-Dead-Reason"
	HeaderDeadConsumer   = "Crisis-Dead-Consumer"
	HeaderDeadSubject    = "Crisis-Dead-Subject"
	HeaderDeadSequence   = "Crisis-Dead-Stream-Sequence"
	HeaderDeadDeliveries = "Crisis-Dead-Deliveries"
)

// StreamConfig sets how the streams are provisioned.
type StreamConfig struct {
	Replicas int // 1 embedded, 3 in a cluster
	// DuplicateWindow is how long the server remembers event ids to drop a
	// repeated publish (default 24h).
	DuplicateWindow time.Duration
}

func (c *StreamConfig) setDefaults() {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 24 * time.Hour
	}
}

// Provision creates or updates the event stream and the dead-letter stream.
// It is idempotent: every service may call it at start.
func Provision(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	cfg.setDefaults()
	streams := []jetstream.StreamConfig{{
		Name:        Stream,
		Description: "crisisbus: every crisis episode event, the source of truth",
		Subjects:    []string{events.AllSubjects()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
		Discard:     jetstream.DiscardNew,
		DenyDelete:  true,
		DenyPurge:   true,
		// An episode is read with direct gets (Replay): no consumer per read.
		AllowDirect: true,
		// A command's facts are stored all or none (PublishAtomic).
		AllowAtomicPublish: true,
	}, {
		Name:        DeadLetterStream,
		Description: "crisisbus: messages a consumer could not handle, with the reason",
		Subjects:    []string{events.DeadLetterRoot + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  time.Hour,
	}}
	for _, sc := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("provision stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

// Bus is one agency's connection to the event stream: the one way to publish
// and the one way to consume.
type Bus struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	agency events.Agency // "" publishes as any agency (bulk import, tools)
	log    *zap.Logger
	// cannotRead: the server refused this bus's user a read of the stream,
	// so a publish answered as a repeat is taken as one (ownRepeat),
	// unless repeatCheck asks someone who may read it.
	cannotRead  atomic.Bool
	repeatCheck atomic.Pointer[RepeatCheck]
	// deadStored holds the stream sequences this bus knows are in the
	// dead-letter stream, so re-reading an episode costs no round trip.
	deadStored sync.Map
}

// PublishAckWait is the longest a batch's publish (PublishBatch,
// PublishBatchRaw, SendBatchRaw) waits for the server's acknowledgement of
// each message (less when its context ends sooner): past it the message's
// result is an error Unanswered reports, never a wait without end. An
// acknowledgement can be lost without the connection dropping (a server
// that took the message and stopped answering); a bulk load then hung
// for good with nothing said. A single Publish is bounded the same way by
// the JetStream client's default timeout.
const PublishAckWait = 30 * time.Second

// publishAckWait is PublishAckWait, shorter in tests.
var publishAckWait = PublishAckWait

// NewBus wraps a NATS connection authenticated as agency. An empty agency
// may publish for any agency (the server still checks its permissions).
// opts tune the JetStream client, for example how long a tool waits for
// an acknowledgement (jetstream.WithPublishAsyncTimeout, default
// PublishAckWait; WithDefaultTimeout).
func NewBus(nc *nats.Conn, agency events.Agency, log *zap.Logger, opts ...jetstream.JetStreamOpt) (*Bus, error) {
	opts = append([]jetstream.JetStreamOpt{jetstream.WithPublishAsyncTimeout(publishAckWait)}, opts...)
	js, err := NewJetStream(nc, opts...)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Bus{nc: nc, js: js, agency: agency, log: log.With(zap.String("agency", string(agency)))}, nil
}

// Conn is the underlying NATS connection (for request-reply services).
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the underlying JetStream context (for KV and provisioning).
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Agency is who this bus publishes as.
func (b *Bus) Agency() events.Agency { return b.agency }

// Logger is the bus's logger.
func (b *Bus) Logger() *zap.Logger { return b.log }

// PubAck says where an event was stored.
type PubAck struct {
	Sequence  uint64 // stream sequence
	Duplicate bool   // the server already had an event with this id
}

// message is the message carrying e. An event without trace context is
// published under the span ctx carries (tracing.Local): the command or the
// consumer handling that published it, so every event of an episode
// carries the episode's trace and its publisher's span.
func (b *Bus) message(ctx context.Context, e events.Event) (*nats.Msg, error) {
	if b.agency != "" && e.Source != b.agency {
		return nil, fmt.Errorf("%w: %s cannot publish an event whose source is %s", events.ErrNotAuthor, b.agency, e.Source)
	}
	e = traced(ctx, e)
	raw, err := events.Encode(e)
	if err != nil {
		return nil, err
	}
	return b.messageOf(e, raw)
}

// traced is e under the span ctx carries, when e has no trace context of
// its own (see message).
func traced(ctx context.Context, e events.Event) events.Event {
	if e.TraceParent == "" {
		if s, ok := tracing.Local(ctx); ok {
			e.TraceParent, e.TraceState = s.String(), s.State
		}
	}
	return e
}

// messageOf is the message carrying raw, the JSON of the validated event e.
func (b *Bus) messageOf(e events.Event, raw []byte) (*nats.Msg, error) {
	if b.agency != "" && e.Source != b.agency {
		return nil, fmt.Errorf("%w: %s cannot publish an event whose source is %s", events.ErrNotAuthor, b.agency, e.Source)
	}
	subj, err := events.Subject(e)
	if err != nil {
		return nil, err
	}
	// The header made whole, with room for the expected stream the
	// publish adds: no canonicalising of names already canonical, no
	// growing of the map.
	h := make(nats.Header, 4)
	h[jetstream.MsgIDHeader] = []string{e.ID}
	h[HeaderType] = []string{e.Type}
	h[HeaderEpisode] = []string{e.Subject}
	return &nats.Msg{Subject: subj, Data: raw, Header: h}, nil
}

// ErrConflict means an optimistic publish found the episode changed since
// it was read: read it again, decide again, publish again.
var ErrConflict = errors.New("episode changed since it was read")

// PublishOption sets a condition on one publish.
type PublishOption func(*publishOpts)

type publishOpts struct {
	episodeSeq *uint64
}

// ExpectEpisodeSeq makes the publish succeed only if the last event of the
// event's episode (crisis.*.<episode>.>) is still at stream sequence seq (0:
// the episode has no event yet). This is how a command that decided on a
// view of the episode is sure nothing changed meanwhile (a second owner, a
// cancelled handoff); otherwise Publish returns ErrConflict.
func ExpectEpisodeSeq(seq uint64) PublishOption {
	return func(o *publishOpts) { o.episodeSeq = &seq }
}

// Publish validates the event, publishes it with its id as the message id,
// and returns once the server has stored it on disk.
func (b *Bus) Publish(ctx context.Context, e events.Event, opts ...PublishOption) (PubAck, error) {
	m, err := b.message(ctx, e)
	if err != nil {
		return PubAck{}, err
	}
	var po publishOpts
	for _, o := range opts {
		o(&po)
	}
	jsOpts := []jetstream.PublishOpt{jetstream.WithExpectStream(Stream)}
	if po.episodeSeq != nil {
		jsOpts = append(jsOpts, jetstream.WithExpectLastSequenceForSubject(*po.episodeSeq, events.EpisodeSubjects(e.Subject)))
	}
	// A publish the server refuses for lack of permission fails at once,
	// saying so, rather than waiting for an acknowledgement that never comes.
	pctx, release := denied.Cancel(ctx, b.nc, m.Subject)
	defer release()
	ack, err := b.js.PublishMsg(pctx, m, jsOpts...)
	var pa PubAck
	if err == nil {
		pa, err = b.ownRepeat(pctx, m, PubAck{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, jsOpts...)
	}
	if err != nil {
		if denied.Refused(pctx) {
			return PubAck{}, fmt.Errorf("publish %s %s for episode %s on %s: %w", e.Type, e.ID, e.Subject, m.Subject, denied.ErrDenied)
		}
		if wrongLastSequence(err) {
			return PubAck{}, fmt.Errorf("publish %s for episode %s: %w", e.Type, e.Subject, ErrConflict)
		}
		return PubAck{}, fmt.Errorf("publish %s %s for episode %s: %w", e.Type, e.ID, e.Subject, err)
	}
	if ce := b.log.Check(zap.DebugLevel, "published"); ce != nil {
		ce.Write(append(traceOf(ctx, e), zap.String("episode", e.Subject), zap.String("event_id", e.ID),
			zap.String("type", e.Type), zap.Uint64("seq", pa.Sequence))...)
	}
	return pa, nil
}

// Emit builds an event from data, published by this bus's agency, and publishes it.
func (b *Bus) Emit(ctx context.Context, episode string, data any, opts ...events.Option) (events.Event, PubAck, error) {
	e, err := events.New(b.agency, episode, data, opts...)
	if err != nil {
		return events.Event{}, PubAck{}, err
	}
	e = traced(ctx, e)
	ack, err := b.Publish(ctx, e)
	return e, ack, err
}

// EmitExpecting is Emit conditioned on the episode's last event being
// still at stream sequence seq (ExpectEpisodeSeq): ErrConflict otherwise.
func (b *Bus) EmitExpecting(ctx context.Context, episode string, seq uint64, data any, opts ...events.Option) (events.Event, PubAck, error) {
	e, err := events.New(b.agency, episode, data, opts...)
	if err != nil {
		return events.Event{}, PubAck{}, err
	}
	e = traced(ctx, e)
	ack, err := b.Publish(ctx, e, ExpectEpisodeSeq(seq))
	return e, ack, err
}

// Replay calls fn, in stream order, with every stored event matching filter
// (for example EpisodeSubjects(id)), and returns the stream sequence of the
// last message read (0 if none). It reads what was stored when it started,
// with direct gets (no consumer is made, however often episodes are read);
// it is how a view is rebuilt from the source of truth. Each event is
// validated as Consume validates it. ReadRange reads a range of the stream
// the same way.
//
// A stored message that is not a usable event (not JSON, against the
// contract, or on a subject its envelope does not belong on) is never
// silently dropped and never blocks what follows: it is skipped, stored once
// in the dead-letter stream under the consumer name ReplayConsumer with the
// reason (however often it is read again), and passed to skipped if that is
// not nil. The sequence returned counts it, so a publish conditioned on the
// episode as read (ExpectEpisodeSeq) still succeeds after it.
func (b *Bus) Replay(ctx context.Context, filter string, fn func(e events.Event, seq uint64) error, skipped func(events.Unreadable)) (uint64, error) {
	return b.ReplayFrom(ctx, filter, 0, fn, skipped)
}

// ReplayFrom is Replay of what is stored from stream sequence from on (0:
// from the first): a reader that kept what it read up to a sequence asks
// only for what came after it. It returns the sequence of the last message
// read (0 if none).
func (b *Bus) ReplayFrom(ctx context.Context, filter string, from uint64, fn func(e events.Event, seq uint64) error, skipped func(events.Unreadable)) (uint64, error) {
	if err := events.CheckSubject("replay filter", filter); err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	return b.readDirectRange(ctx, filter, from, 0, b.usable(ctx, fn, skipped))
}

// usable passes each stored event to fn, and skips (and dead-letters once)
// a stored message that is not a usable event.
func (b *Bus) usable(ctx context.Context, fn func(e events.Event, seq uint64) error, skipped func(events.Unreadable)) func(Stored) error {
	return func(s Stored) error {
		e, err := parseStored(s.Subject, s.Raw)
		if err != nil {
			u := unreadableOf(s.Subject, s.Seq, err)
			b.deadLetterStored(ctx, s, u)
			if skipped != nil {
				skipped(u)
			}
			return nil
		}
		return fn(e, s.Seq)
	}
}

// ReplayConsumer is the consumer name under which Replay dead-letters a
// stored message it could not use.
const ReplayConsumer = "replay"

func unreadableOf(subject string, seq uint64, err error) events.Unreadable {
	u := events.Unreadable{Seq: seq, Subject: subject, Reason: err.Error()}
	if tok := strings.Split(subject, "."); len(tok) >= 3 && tok[0] == events.SubjectRoot {
		u.Agency, u.Episode = events.Agency(tok[1]), tok[2]
	}
	return u
}

// DeadLetterSubject is the subject of the dead letter consumer sets aside
// of the stored message at stream sequence seq: one subject a message, and
// the publish expects it empty, so a message is set aside once however
// often it comes back. Only the consumer's owner may publish under its
// name (broker/rights), so no other identity can fill the place first (as
// it could a message id: the stream drops a repeated id, whoever sent the
// first).
func DeadLetterSubject(consumer string, seq uint64) string {
	return events.DeadLetterRoot + "." + consumer + "." + strconv.FormatUint(seq, 10)
}

// wrongLastSequence reports whether the server refused a publish because
// the subject's last sequence was not the one expected.
func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// deadLetterStored stores an unreadable message read by Replay in the
// dead-letter stream, once (DeadLetterSubject): a second read stores
// nothing, whenever it happens. A failure is logged and tried again at the
// next read; it never stops the read.
func (b *Bus) deadLetterStored(ctx context.Context, s Stored, u events.Unreadable) {
	if _, done := b.deadStored.Load(s.Seq); done {
		return
	}
	seq := strconv.FormatUint(s.Seq, 10)
	dl := nats.NewMsg(DeadLetterSubject(ReplayConsumer, s.Seq))
	dl.Data = s.Raw
	dl.Header.Set(HeaderDeadReason, "unreadable: "+u.Reason)
	dl.Header.Set(HeaderDeadConsumer, ReplayConsumer)
	dl.Header.Set(HeaderDeadSubject, s.Subject)
	dl.Header.Set(HeaderDeadSequence, seq)
	dl.Header.Set(HeaderDeadDeliveries, "0")
	if u.Episode != "" {
		dl.Header.Set(HeaderEpisode, u.Episode)
	}
	log := b.log.With(zap.String("episode", u.Episode), zap.Uint64("stream_seq", s.Seq))
	_, err := b.js.PublishMsg(ctx, dl, jetstream.WithExpectStream(DeadLetterStream),
		jetstream.WithExpectLastSequenceForSubject(0, dl.Subject))
	switch {
	case err == nil:
		b.deadStored.Store(s.Seq, true)
		log.Warn("unreadable stored message skipped and dead-lettered", zap.String("reason", u.Reason), zap.String("subject", s.Subject))
	case wrongLastSequence(err):
		b.deadStored.Store(s.Seq, true)
		log.Debug("unreadable stored message skipped; already dead-lettered")
	default:
		log.Error("unreadable stored message skipped; the dead-letter stream refused it", zap.Error(err))
	}
}

// parseStored validates an event read from the stream, including that it
// was published on the subject its envelope belongs on (so its source is the
// agency the server let publish it).
func parseStored(subject string, raw []byte) (events.Event, error) {
	e, err := events.Parse(raw)
	if err != nil {
		return e, err
	}
	subj, err := events.Subject(e)
	if err != nil {
		return e, err
	}
	if subj != subject {
		return e, fmt.Errorf("%w: event %s was published on %s but its envelope belongs on %s", events.ErrInvalid, e.ID, subject, subj)
	}
	return e, nil
}

// BatchResult is the outcome of one event of PublishBatch.
type BatchResult struct {
	Ack PubAck
	Err error
	// Refused says the event itself was refused (by the contract, or by the
	// server's answer about it): publishing it again cannot succeed. An
	// error that is not a refusal is the server not answering (no
	// acknowledgement in time, a lost connection): the event may or may not
	// be stored, and publishing it again is safe (its id is its message id).
	Refused bool
}

// PublishBatch publishes many events with the server's acknowledgements
// pipelined (for bulk import). Each event is validated exactly as Publish
// does; results are in the order of events.
func (b *Bus) PublishBatch(ctx context.Context, events []events.Event) []BatchResult {
	res := make([]BatchResult, len(events))
	msgs := make([]*nats.Msg, len(events))
	for i, e := range events {
		msgs[i], res[i].Err = b.message(ctx, e)
		res[i].Refused = res[i].Err != nil
	}
	b.publishPipelined(ctx, msgs, res)
	for i := range res {
		if res[i].Err == nil && res[i].Ack.Duplicate {
			if res[i].Ack, res[i].Err = b.ownRepeat(ctx, msgs[i], res[i].Ack, jetstream.WithExpectStream(Stream)); res[i].Err != nil {
				res[i].Err = fmt.Errorf("publish %s %s for episode %s: %w", events[i].Type, events[i].ID, events[i].Subject, res[i].Err)
			}
		}
	}
	return res
}

// publishPipelined publishes msgs in order with acknowledgements pipelined,
// skipping those whose result already holds an error.
func (b *Bus) publishPipelined(ctx context.Context, msgs []*nats.Msg, res []BatchResult) {
	futures := make([]jetstream.PubAckFuture, len(msgs))
	b.sendAsync(ctx, msgs, res, futures, 0, len(msgs))
	b.awaitAcks(ctx, msgs, res, futures)
}

// sendAsync sends msgs[lo:hi] without waiting for their acknowledgements.
// Once ctx is done it sends nothing more: the rest get ctx's error.
func (b *Bus) sendAsync(ctx context.Context, msgs []*nats.Msg, res []BatchResult, futures []jetstream.PubAckFuture, lo, hi int) {
	for i := lo; i < hi; i++ {
		if res[i].Err != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			res[i].Err = fmt.Errorf("publish %s: %w", msgs[i].Header.Get(jetstream.MsgIDHeader), err)
			continue
		}
		// Wait for room when the client has many acknowledgements outstanding
		// (every write is fsynced) rather than fail the rest of the batch,
		// a second at a time so that a cancelled ctx ends the wait.
		var f jetstream.PubAckFuture
		var err error
		for {
			f, err = b.js.PublishMsgAsync(msgs[i], jetstream.WithExpectStream(Stream), jetstream.WithStallWait(time.Second))
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			res[i].Err = fmt.Errorf("publish %s: %w", msgs[i].Header.Get(jetstream.MsgIDHeader), err)
			continue
		}
		futures[i] = f
	}
}

// awaitAcks waits for the acknowledgement of each message sent, or until
// ctx is done. An answer already received is taken even when ctx is done:
// an event acknowledged is never reported as unacknowledged.
func (b *Bus) awaitAcks(ctx context.Context, msgs []*nats.Msg, res []BatchResult, futures []jetstream.PubAckFuture) {
	for i, f := range futures {
		if f == nil {
			continue
		}
		var ack *jetstream.PubAck
		var err error
		unanswered := false
		select {
		case ack = <-f.Ok():
		case err = <-f.Err():
		default:
			select {
			case ack = <-f.Ok():
			case err = <-f.Err():
			case <-ctx.Done():
				err, unanswered = context.Cause(ctx), true
			}
		}
		if err != nil {
			var apiErr *jetstream.APIError
			res[i].Refused = !unanswered && errors.As(err, &apiErr) // the server answered about this event
			res[i].Err = fmt.Errorf("publish %s: %w", msgs[i].Header.Get(jetstream.MsgIDHeader), err)
			continue
		}
		res[i].Ack = PubAck{Sequence: ack.Sequence, Duplicate: ack.Duplicate}
	}
}

// Handler handles one valid event. Returning an error asks for redelivery
// after a back-off; wrap it with Permanent when retrying cannot help.
// A handler must be safe to call again with an event it has already handled
// (after a crash between handling and acknowledging).
type Handler func(ctx context.Context, e events.Event) error

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks a handler error that retrying cannot fix: the event goes
// straight to the dead-letter stream.
func Permanent(err error) error { return permanentError{err} }

// ConsumerConfig configures a durable consumer.
type ConsumerConfig struct {
	Durable string   // the consumer's durable name, e.g. "amhp-inbox"
	Filters []string // subject filters; default every event
	// MaxDeliver is how many times a handler may fail on a message before
	// it is dead-lettered (default 5). It is counted by crisisbus, not by
	// the server, whose consumer redelivers without limit: a message the
	// dead-letter stream cannot take (the store is full) stays on the
	// consumer and is tried again, never skipped. A failure because the
	// store is full or stopped (StoreUnavailable) is retried however often
	// it happens and is never dead-lettered; a failure because a server did
	// not answer (Unanswered) is retried for OutageRetry before it counts.
	MaxDeliver int
	// OutageRetry is how long a message whose handler fails because a
	// server did not answer in time (Unanswered: a cluster electing a
	// leader, a node down, a service restarting) is retried, from its
	// first such failure, before those failures count toward MaxDeliver
	// (default 15 minutes). Without it a short outage dead-lettered every
	// handoff offered meanwhile; with it, a message that fails that way
	// for longer is still dead-lettered in the end, and the operator told.
	OutageRetry time.Duration
	// Backoff is the delay before each redelivery after a handler error
	// (default 1s, 5s, 30s, 2m; the last repeats).
	Backoff []time.Duration
	// AckWait is how long a delivery may take before the server redelivers (default 30s).
	AckWait time.Duration
	// Rejected, if set, is told of each message that is not a usable event
	// before it is dead-lettered (a view shows that a fact could not be
	// read). Its error asks for redelivery, as a handler's does.
	Rejected func(ctx context.Context, u events.Unreadable) error
}

func (c *ConsumerConfig) setDefaults() {
	if len(c.Filters) == 0 {
		c.Filters = []string{events.AllSubjects()}
	}
	if c.MaxDeliver == 0 {
		c.MaxDeliver = 5
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.OutageRetry == 0 {
		c.OutageRetry = 15 * time.Minute
	}
}

// Validate reports what is wrong with the configuration.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if c.Durable == "" {
		errs = append(errs, errors.New("consumer needs a durable name"))
	}
	if c.MaxDeliver < 0 {
		errs = append(errs, errors.New("MaxDeliver must not be negative"))
	}
	if c.OutageRetry < 0 {
		errs = append(errs, errors.New("OutageRetry must not be negative"))
	}
	return errors.Join(errs...)
}

// Subscription is a running consumer.
type Subscription struct {
	mu      sync.Mutex
	cc      jetstream.ConsumeContext // the one running now (a consumer made again has a new one)
	stopped bool
	done    chan struct{}
	once    sync.Once
	// remaking is held while the consumer is checked for or made again,
	// so a loss reported twice (the server saying it was deleted, pulls
	// going unanswered) makes it once; checking is set while a check
	// waits or runs.
	remaking sync.Mutex
	checking atomic.Bool
}

// Stop stops fetching; the message being handled finishes first.
func (s *Subscription) Stop() {
	s.once.Do(func() {
		s.mu.Lock()
		s.stopped = true
		cc := s.cc
		s.mu.Unlock()
		cc.Drain()
		select {
		case <-cc.Closed():
		case <-time.After(5 * time.Second):
			cc.Stop()
		}
		close(s.done)
	})
}

// current reports whether cc is the subscription's consumption, and it is
// not stopped.
func (s *Subscription) current(cc jetstream.ConsumeContext) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopped && s.cc == cc
}

// running makes cc the subscription's, unless it was stopped meanwhile
// (then cc is stopped and false returned).
func (s *Subscription) running(cc jetstream.ConsumeContext) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		cc.Stop()
		return false
	}
	s.cc = cc
	return true
}

// position is where a consumer's service is on the stream: past the
// messages that have left the consumer (acknowledged or dead-lettered),
// short of those it still holds (delivered and to be tried again). A
// consumer deleted on the server under a running service is made again
// from there, so nothing after it is skipped and, with the consumer's
// record of what it handled, nothing before it is handled again.
type position struct {
	mu   sync.Mutex
	next uint64          // the stream sequence after the highest that left
	held map[uint64]bool // delivered and not yet left
}

func (p *position) delivered(seq uint64) {
	p.mu.Lock()
	p.held[seq] = true
	p.mu.Unlock()
}

func (p *position) left(seq uint64) {
	p.mu.Lock()
	delete(p.held, seq)
	p.next = max(p.next, seq+1)
	p.mu.Unlock()
}

// from is the stream sequence a consumer made again starts at.
func (p *position) from() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	from := p.next
	for seq := range p.held {
		from = min(from, seq)
	}
	return max(from, 1)
}

// trackedMsg notes in its position when the message leaves the consumer.
type trackedMsg struct {
	jetstream.Msg
	pos *position
	seq uint64
}

func (m trackedMsg) Ack() error  { m.pos.left(m.seq); return m.Msg.Ack() }
func (m trackedMsg) Term() error { m.pos.left(m.seq); return m.Msg.Term() }

// Consume runs a durable pull consumer with explicit acks. For each message:
// an invalid event (schema, catalogue, authorship, or a subject that does not
// match its envelope) is moved to the dead-letter stream with the reason and
// never reaches h; an event already handled by this consumer is acknowledged
// without calling h again; a handler error is redelivered after a back-off,
// and after MaxDeliver failures the message is dead-lettered, unless the
// failure is the store's (StoreUnavailable), which is retried until the
// store takes writes again. A message leaves the consumer only once handled
// or stored in the dead-letter stream: nothing is dropped, silently or
// not, and a bad message never blocks the ones behind it. h's context
// carries the message's stream sequence (StreamSeq).
func (b *Bus) Consume(ctx context.Context, cfg ConsumerConfig, h Handler) (*Subscription, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	ccfg := jetstream.ConsumerConfig{
		Durable:   cfg.Durable,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   cfg.AckWait,
		// The server never gives up on a message (a consumer made with a
		// limit by an earlier crisisbus is updated): once it had delivered
		// a message MaxDeliver times it would skip it, even when the
		// dead-letter stream had refused it. handle counts instead.
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	// A single filter travels in the create request's subject, where the
	// server's permissions can check it (an agency may create its inbox
	// consumer only with its inbox filter).
	if len(cfg.Filters) == 1 {
		ccfg.FilterSubject = cfg.Filters[0]
	} else {
		ccfg.FilterSubjects = cfg.Filters
	}
	// A consumer made again after a deletion (remake) starts where its
	// service was; a restart keeps that start, which the server does not
	// let a consumer change.
	if c, err := b.js.Consumer(ctx, Stream, cfg.Durable); err == nil {
		ccfg.DeliverPolicy, ccfg.OptStartSeq = c.CachedInfo().Config.DeliverPolicy, c.CachedInfo().Config.OptStartSeq
	}
	log := b.log.With(zap.String("consumer", cfg.Durable))
	seen := newSeenSet(65536)
	out := &outages{since: map[uint64]time.Time{}}
	pos := &position{held: map[uint64]bool{}}
	service := b.service()
	s := &Subscription{done: make(chan struct{})}
	var start func(ctx context.Context, ccfg jetstream.ConsumerConfig) (jetstream.ConsumeContext, error)
	start = func(ctx context.Context, ccfg jetstream.ConsumerConfig) (jetstream.ConsumeContext, error) {
		cons, err := b.js.CreateOrUpdateConsumer(ctx, Stream, ccfg)
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
		}
		info := cons.CachedInfo()
		pos.left(max(info.AckFloor.Stream, info.Config.OptStartSeq, 1) - 1)
		cc, err := cons.Consume(func(msg jetstream.Msg) {
			md, err := msg.Metadata()
			if err != nil {
				log.Error("message without metadata", zap.Error(err))
				_ = msg.Term()
				return
			}
			pos.delivered(md.Sequence.Stream)
			b.handle(ctx, log, cfg, service, seen, out, h, trackedMsg{Msg: msg, pos: pos, seq: md.Sequence.Stream}, md)
		}, jetstream.ConsumeErrHandler(func(was jetstream.ConsumeContext, err error) {
			switch {
			case errors.Is(err, jetstream.ErrConsumerDeleted):
				go b.remake(ctx, log, s, was, deletedWhileRunning, ccfg, pos, start)
			case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, jetstream.ErrConsumerNotFound):
				// Nothing answers the pulls: after a reconnect, the
				// consumer may have been deleted while the connection
				// was down (nats.go then never says it was deleted).
				// One check at a time, however often this is said.
				if s.checking.CompareAndSwap(false, true) {
					go b.recheck(ctx, log, s, was, ccfg, pos, start)
				}
			default:
				log.Debug("consume", zap.Error(err))
			}
		}))
		if err != nil {
			return nil, fmt.Errorf("consume %s: %w", cfg.Durable, err)
		}
		return cc, nil
	}
	// A consumer's loss is dealt with once it is the subscription's.
	s.remaking.Lock()
	cc, err := start(ctx, ccfg)
	s.cc = cc
	s.remaking.Unlock()
	if err != nil {
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			s.Stop()
		case <-s.done:
		}
	}()
	return s, nil
}

// How a consumer came to be deleted under its service, in the log's words.
const (
	deletedWhileRunning = "the consumer was deleted on the NATS server while this service ran"
	deletedUnheard      = "the consumer was deleted on the NATS server without this service hearing of it (its connection to the server was down, or the server restarted without it)"
)

// recheck asks the server whether the consumer that was (the one running)
// pulls from is still there, and makes it again (remake) if it is not:
// nats.go says a consumer was deleted only to a connected client, so one
// deleted while the connection was down (a network cut, a server restarted
// without it) shows only as pulls nobody answers.
func (b *Bus) recheck(ctx context.Context, log *zap.Logger, s *Subscription, was jetstream.ConsumeContext, ccfg jetstream.ConsumerConfig, pos *position,
	start func(context.Context, jetstream.ConsumerConfig) (jetstream.ConsumeContext, error)) {
	defer s.checking.Store(false)
	s.remaking.Lock()
	defer s.remaking.Unlock()
	if !s.current(was) {
		return // stopped, or made again already
	}
	_, err := b.js.Consumer(ctx, Stream, ccfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		b.remakeHeld(ctx, log, s, was, deletedUnheard, ccfg, pos, start)
	case err != nil:
		log.Debug("could not check the consumer is there; will check again when pulls go unanswered", zap.String("cause", logsafe.Cause(err)))
	}
}

// remake makes a consumer deleted on the server under its running service
// again, from where the service was (pos), and carries on consuming; until
// the server takes it, it tries again every few seconds, saying why. was is
// the consumption that lost its consumer: once that is no longer the
// subscription's (made again already, or stopped), there is nothing to do,
// so however many ways the loss is reported it is made again once.
func (b *Bus) remake(ctx context.Context, log *zap.Logger, s *Subscription, was jetstream.ConsumeContext, why string, ccfg jetstream.ConsumerConfig, pos *position,
	start func(context.Context, jetstream.ConsumerConfig) (jetstream.ConsumeContext, error)) {
	s.remaking.Lock()
	defer s.remaking.Unlock()
	if !s.current(was) {
		return
	}
	b.remakeHeld(ctx, log, s, was, why, ccfg, pos, start)
}

// remakeHeld is remake with s.remaking held and was still the subscription's.
func (b *Bus) remakeHeld(ctx context.Context, log *zap.Logger, s *Subscription, was jetstream.ConsumeContext, why string, ccfg jetstream.ConsumerConfig, pos *position,
	start func(context.Context, jetstream.ConsumerConfig) (jetstream.ConsumeContext, error)) {
	// The old consumption stops pulling (it would pull from the consumer
	// made again beside the new one); stopped already when the server
	// said the consumer was deleted.
	was.Stop()
	from := pos.from()
	log.Error(why+"; making it again where the service was", zap.Uint64("from_stream_seq", from))
	ccfg.DeliverPolicy, ccfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	// The server removes a deleted consumer's files after it has told its
	// clients: one made again at once could lose its own files to that.
	// So it is made after a pause, and then written again to check it
	// still has them; if not, it is made afresh.
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-time.After(wait):
		}
		cc, err := start(ctx, ccfg)
		if err == nil {
			if _, err = b.js.CreateOrUpdateConsumer(ctx, Stream, ccfg); err != nil {
				cc.Stop()
				_ = b.js.DeleteConsumer(ctx, Stream, ccfg.Durable)
			}
		}
		if err == nil {
			if s.running(cc) {
				log.Warn("the consumer deleted on the NATS server was made again where this service was; handling carries on",
					zap.Uint64("from_stream_seq", from))
			}
			return
		}
		log.Error("could not make the deleted consumer again; will retry", zap.String("cause", logsafe.Cause(err)), zap.Duration("retry_in", wait))
	}
}

// handle handles one delivered message; md is its metadata, read once.
func (b *Bus) handle(ctx context.Context, log *zap.Logger, cfg ConsumerConfig, service string, seen *seenSet, out *outages, h Handler, msg jetstream.Msg, md *jetstream.MsgMetadata) {
	ctx = context.WithValue(ctx, deliveryKey{}, delivery{seq: md.Sequence.Stream, pending: md.NumPending})
	delay := cfg.Backoff[min(int(md.NumDelivered)-1, len(cfg.Backoff)-1)]
	// A handler that read ahead (ReadRange) has checked the messages
	// delivered next already (events.Parse keeps what it found valid).
	e, err := parseStored(msg.Subject(), msg.Data())
	if err != nil {
		u := unreadableOf(msg.Subject(), md.Sequence.Stream, err)
		if cfg.Rejected != nil {
			if rerr := cfg.Rejected(ctx, u); rerr != nil && (int(md.NumDelivered) < cfg.MaxDeliver || StoreUnavailable(rerr)) {
				log.Warn("could not note a rejected message; will retry", zap.String("episode", u.Episode),
					zap.Error(rerr), zap.Duration("retry_in", delay))
				_ = msg.NakWithDelay(delay)
				return
			}
		}
		b.deadLetter(ctx, log.With(zap.String("episode", u.Episode)), cfg.Durable, msg, md, delay, "rejected: "+err.Error(), "rejected: not a valid event")
		return
	}
	// The event's logger (withEvent) is made only when there is something
	// to log: a handled event, the common case, logs nothing.
	if seen.has(e.ID) {
		if log.Core().Enabled(zap.DebugLevel) {
			withEvent(ctx, log, e).Debug("already handled; acknowledging again")
		}
		_ = msg.Ack()
		return
	}
	// The handling is a span of the episode's trace, a child of the span
	// that published the event: what the handler publishes continues it.
	ctx, span := tracing.Consume(ctx, service, cfg.Durable, e)
	herr := h(ctx, e)
	span.End(herr)
	seq := md.Sequence.Stream
	var perm permanentError
	unanswered := herr != nil && Unanswered(herr) && !errors.As(herr, &perm)
	var failing time.Duration // how long the message has gone unanswered
	if unanswered {
		failing = out.lasting(seq, time.Now())
	} else {
		out.end(seq)
	}
	if herr == nil {
		seen.add(e.ID)
		if err := msg.Ack(); err != nil {
			withEvent(ctx, log, e).Warn("ack", zap.Error(err))
		}
		return
	}
	switch {
	case StoreUnavailable(herr):
		// Not the message's fault: it waits, in place, for the store.
		line, cause := storeWait(herr)
		withEvent(ctx, log, e).Warn(line, zap.String("cause", cause), zap.Uint64("delivery", md.NumDelivered), zap.Duration("retry_in", delay))
		_ = msg.NakWithDelay(delay)
	case unanswered && failing < cfg.OutageRetry:
		// Not the message's fault either: a server did not answer in time.
		withEvent(ctx, log, e).Warn("handler failed: a server did not answer in time; will retry while the outage lasts",
			zap.String("cause", logsafe.Cause(herr)), zap.Uint64("delivery", md.NumDelivered),
			zap.Duration("failing_for", failing.Round(time.Second)), zap.Duration("gives_up_after", cfg.OutageRetry), zap.Duration("retry_in", delay))
		_ = msg.NakWithDelay(delay)
	case errors.As(herr, &perm) || int(md.NumDelivered) >= cfg.MaxDeliver:
		out.end(seq)
		b.deadLetter(ctx, withEvent(ctx, log, e), cfg.Durable, msg, md, delay,
			fmt.Sprintf("handler failed on delivery %d of %d: %v", md.NumDelivered, cfg.MaxDeliver, herr),
			fmt.Sprintf("handler failed on delivery %d of %d: %s", md.NumDelivered, cfg.MaxDeliver, logsafe.Cause(herr)))
	default:
		withEvent(ctx, log, e).Warn("handler failed; will retry", zap.String("cause", logsafe.Cause(herr)), zap.Uint64("delivery", md.NumDelivered), zap.Duration("retry_in", delay))
		_ = msg.NakWithDelay(delay)
	}
}

// withEvent is log with the event's episode, id and type (never its data),
// and the trace: that of the span handling it, or the one it carries.
func withEvent(ctx context.Context, log *zap.Logger, e events.Event) *zap.Logger {
	return log.With(append(traceOf(ctx, e), zap.String("episode", e.Subject), zap.String("event_id", e.ID), zap.String("type", e.Type))...)
}

// traceOf is the trace_id and span_id of a log line about e: those of the
// span ctx carries when it is e's trace, else those e carries.
func traceOf(ctx context.Context, e events.Event) []zap.Field {
	if s, ok := tracing.Local(ctx); ok && (e.TraceParent == "" || strings.Contains(e.TraceParent, s.TraceID)) {
		return tracing.Fields(ctx)
	}
	return tracing.EventFields(e)
}

// service names this bus's work in a span: its agency's service, or
// crisisbus for a bus that publishes as any agency.
func (b *Bus) service() string {
	if b.agency == "" {
		return "crisisbus"
	}
	return "crisisbus-" + string(b.agency)
}

// deliveryKey holds, in a handler's context, where the message it was
// called with is (one value: one allocation a message, not two).
type deliveryKey struct{}

type delivery struct{ seq, pending uint64 }

// StreamSeq is the stream sequence of the message a Handler (or a
// ConsumerConfig.Rejected) was called with; ok is false outside one.
func StreamSeq(ctx context.Context) (seq uint64, ok bool) {
	d, ok := ctx.Value(deliveryKey{}).(delivery)
	return d.seq, ok
}

// Pending is how many messages the consumer had still to deliver after the
// one a Handler was called with (the server's count when it delivered it):
// a handler far behind the stream can fold a run of them at once.
func Pending(ctx context.Context) uint64 {
	d, _ := ctx.Value(deliveryKey{}).(delivery)
	return d.pending
}

// StoreUnavailable reports whether err is the server's store refusing or
// failing a write, or JetStream being stopped: the disk or the store's
// share of it is full, or the server stopped JetStream after a write
// failed. It is a condition of the server, not of the message; retrying
// once the operator has made room succeeds. An error may say so of itself
// (StoreUnavailable() bool), as a clock whose bucket was lost does while
// the bucket is made again.
func StoreUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var says interface{ StoreUnavailable() bool }
	if errors.As(err, &says) && says.StoreUnavailable() {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode {
		case errCodeInsufficientResources, errCodeStorageResourcesExceeded, errCodeStreamStoreFailed,
			jetstream.JSErrCodeJetStreamNotEnabled, jetstream.JSErrCodeJetStreamNotEnabledForAccount:
			return true
		}
	}
	return errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) || strings.Contains(err.Error(), "no space left on device")
}

// storeWait is the log line, and its cause, of a message whose handler
// failed because its store is unavailable (StoreUnavailable): the store
// full or stopped or, when the handler said what it waits for in words of
// its own (logsafe.Fixed, as a clock whose bucket was lost does), those
// words, with the fault under them, if any, as the cause.
func storeWait(err error) (line, cause string) {
	var fixed logsafe.Fixed
	if errors.As(err, &fixed) {
		cause = logsafe.Cause(err)
		if under := errors.Unwrap(fixed); under != nil {
			cause = logsafe.Cause(under)
		}
		return "handler failed: " + fixed.FixedWords() + "; will retry until that is over, the message waiting in place", cause
	}
	return "handler failed: the store is full or stopped; will retry until it takes writes again", logsafe.Cause(err)
}

// TooLarge reports whether err is a message larger than the server carries
// (its max_payload): nothing wrong with the server, nor passing by itself.
func TooLarge(err error) bool {
	return err != nil && (errors.Is(err, nats.ErrMaxPayload) || strings.Contains(err.Error(), nats.ErrMaxPayload.Error()))
}

// Unanswered reports whether err is a server (or a service it asked) not
// answering in time, rather than anything wrong with what was asked: a
// time-out, a connection closed or reconnecting, or a refusal that says of
// itself it is temporary (Temporary() bool, as a service's 503 does).
func Unanswered(err error) bool {
	if err == nil {
		return false
	}
	var t interface{ Temporary() bool }
	if errors.As(err, &t) && t.Temporary() {
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrNoServers) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout)
}

// outages keeps, for each message a consumer's handler is failing on
// because a server did not answer, when that began. It holds only the
// messages failing now (each leaves once handled, failing otherwise, or
// dead-lettered), at most the consumer's unacknowledged messages.
type outages struct {
	mu    sync.Mutex
	since map[uint64]time.Time
}

// lasting notes that the message at seq failed unanswered at now and says
// for how long it has been failing that way.
func (o *outages) lasting(seq uint64, now time.Time) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	first, ok := o.since[seq]
	if !ok {
		o.since[seq] = now
		return 0
	}
	return now.Sub(first)
}

// end forgets the message at seq.
func (o *outages) end(seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.since, seq)
}

// JetStream error codes for a store that cannot take a write (nats-server's
// JSInsufficientResourcesErr, JSStorageResourcesExceededErr,
// JSStreamStoreFailedF).
const (
	errCodeInsufficientResources    jetstream.ErrorCode = 10023
	errCodeStorageResourcesExceeded jetstream.ErrorCode = 10047
	errCodeStreamStoreFailed        jetstream.ErrorCode = 10077
)

// deadLetter stores the message with the reason, then terminates it. If the
// dead-letter stream cannot take it (the store is full), the message stays
// on the consumer and is delivered again after delay: it is handled again
// then, and dead-lettered only if it fails again. The stored reason is whole
// (`crisisbus deadletter list` shows it); the log gets logReason, which
// holds none of the event's values.
func (b *Bus) deadLetter(ctx context.Context, log *zap.Logger, consumer string, msg jetstream.Msg, md *jetstream.MsgMetadata, delay time.Duration, reason, logReason string) {
	seq := strconv.FormatUint(md.Sequence.Stream, 10)
	dl := nats.NewMsg(DeadLetterSubject(consumer, md.Sequence.Stream))
	dl.Data = msg.Data()
	for k, v := range msg.Headers() {
		if !serverHeader(k) {
			dl.Header[k] = v
		}
	}
	dl.Header.Set(HeaderDeadReason, reason)
	dl.Header.Set(HeaderDeadConsumer, consumer)
	dl.Header.Set(HeaderDeadSubject, msg.Subject())
	dl.Header.Set(HeaderDeadSequence, seq)
	dl.Header.Set(HeaderDeadDeliveries, strconv.FormatUint(md.NumDelivered, 10))
	_, err := b.js.PublishMsg(ctx, dl, jetstream.WithExpectStream(DeadLetterStream), jetstream.WithExpectLastSequenceForSubject(0, dl.Subject))
	if wrongLastSequence(err) {
		err = nil // set aside already (the message came back before it was terminated)
	}
	if err != nil {
		log.Error("dead-letter stream refused a message; it stays on the consumer and will be handled again",
			zap.String("cause", logsafe.Cause(err)), zap.String("reason", logReason),
			zap.Uint64("stream_seq", md.Sequence.Stream), zap.Uint64("delivery", md.NumDelivered), zap.Duration("retry_in", delay))
		_ = msg.NakWithDelay(delay)
		return
	}
	log.Warn("dead-lettered", zap.String("reason", logReason), zap.String("subject", msg.Subject()), zap.Uint64("stream_seq", md.Sequence.Stream))
	_ = msg.Term()
}

// serverHeader reports whether a header is one the NATS server acts on
// (Nats-…): a message id, a batch's id, sequence and commit, an expected
// stream, sequence or message id. The server keeps them on the message it
// stores, and a command's facts (PublishAtomic) all carry a batch's; any
// agency's user can store messages with an expectation that held then.
// Sent again with a dead letter, they would have the dead-letter stream
// take it for part of a batch and refuse it (the message then stays on
// its consumer, tried again for ever), or refuse it as not what was
// expected (and it was dropped as already set aside). A dead letter keeps
// crisisbus's own headers only.
func serverHeader(k string) bool {
	return len(k) >= 5 && strings.EqualFold(k[:5], "Nats-")
}

// seenSet remembers the last n event ids a consumer handled.
type seenSet struct{ ids *fifo.Map[string, struct{}] }

func newSeenSet(n int) *seenSet { return &seenSet{fifo.New[string, struct{}](n)} }

func (s *seenSet) has(id string) bool { _, ok := s.ids.Get(id); return ok }

func (s *seenSet) add(id string) { s.ids.Put(id, struct{}{}) }
