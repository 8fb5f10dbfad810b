// Package record is the episode record service: it keeps every episode's
// view (the fold in package episode) in a key-value bucket as events arrive,
// catches up after a fault, keeps each agency's worklist, and answers the
// agencies' queries (view, state, worklist, match, disclosures, and where a
// person can go now: the live directory of places) over NATS
// request-reply, recording every read of a person's record as a disclosure.
package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The record's request-reply API (a `micro` service: `nats micro info
// crisisbus-record` lists it with its stats). Every view served is recorded
// as a record.disclosed event before it is sent.
//
// An agency's view is served on its own subject, crisisbus.record.<agency>.view
// (ViewSubject), so that NATS permissions can let each agency's user ask
// only for its own view (see broker/rights).
const (
	ServiceName         = "crisisbus-record"
	SubjectDisclosures  = "crisisbus.record.disclosures" // EpisodeRequest → DisclosuresResponse
	SubjectMatch        = "crisisbus.record.match"       // EpisodeRequest → MatchResponse
	Durable             = rights.RecordDurable           // the projection's durable consumer
	disclosureLegalBase = "UK GDPR 6(1)(e), 9(2)(h): direct care"
)

// ViewSubject is where agency a's view is served: ViewRequest → ViewResponse.
func ViewSubject(a events.Agency) string { return "crisisbus.record." + string(a) + ".view" }

// ViewRequest asks for one agency's view of an episode. Viewer and purpose
// are required, one line of at most MaxViewerLen and MaxPurposeLen
// characters: who looks, and why, is recorded before anything is shown.
type ViewRequest struct {
	Episode string        `json:"episode"`
	Agency  events.Agency `json:"agency,omitempty"` // optional: the subject names the agency`
	Viewer  string        `json:"viewer"`
	Purpose string        `json:"purpose"`
	// After is an event the view must already hold: a person who has just
	// recorded something sees it (read your own writes). The record waits
	// up to AfterWait for a replica that answers its read to hold it, then
	// answers anyway.
	After string `json:"after,omitempty"`
	// Reason is why a person opens an episode their agency has no part in
	// (View.HasPart), one line of at most MaxReasonLen characters: without
	// one such a view is refused (403, NoPartMessage), whoever asks; with
	// one it is recorded as the disclosure's purpose, after NoPartPurpose.
	Reason string `json:"reason,omitempty"`
}

// AfterWait bounds how long a view waits for ViewRequest.After.
const AfterWait = 3 * time.Second

// Validate names what is missing.
func (r *ViewRequest) Validate() error {
	var errs []error
	if r.Episode == "" {
		errs = append(errs, errors.New("episode is required"))
	}
	if r.Agency != "" && !r.Agency.Pathway() {
		errs = append(errs, fmt.Errorf("agency %q is not one of %v", r.Agency, events.Agencies))
	}
	errs = append(errs, checkViewer(r.Viewer), checkPurpose(r.Purpose))
	if r.Reason != "" {
		errs = append(errs, checkText("reason", "why an agency with no part in the episode opens it", r.Reason, episode.MaxReasonLen))
	}
	return errors.Join(errs...)
}

// ViewResponse is the agency's view: only the fields on its allowlist.
type ViewResponse struct {
	Episode string        `json:"episode"`
	Agency  events.Agency `json:"agency"`
	Fields  []string      `json:"fields"` // every field sent in View: what the disclosure names
	// DisclosureID is the record.disclosed event: the same for identical
	// reads within DisclosureWindow, which are one disclosure.
	DisclosureID string          `json:"disclosureId"`
	View         json.RawMessage `json:"view"`
}

// AppendJSON writes the answer with its view as encoded (rpc.Encoded).
func (r ViewResponse) AppendJSON(b []byte) ([]byte, error) {
	raw := r.View
	r.View = nil
	return rpc.AppendRawLast(b, r, raw)
}

// EpisodeRequest names an episode.
type EpisodeRequest struct {
	Episode string `json:"episode"`
}

// Validate names what is missing.
func (r *EpisodeRequest) Validate() error {
	if r.Episode == "" {
		return errors.New("episode is required")
	}
	return nil
}

// DisclosuresResponse lists who saw the episode's record: one entry per
// viewer, agency and purpose, in the order they first looked, at most
// MaxDisclosureEntries (the least recently viewed are dropped from this
// summary and counted in Dropped; every disclosure is in the stream).
type DisclosuresResponse struct {
	Episode     string       `json:"episode"`
	Disclosures []Disclosure `json:"disclosures"`
	Dropped     int          `json:"dropped,omitempty"`
	DroppedUpTo time.Time    `json:"droppedUpTo,omitzero"`
}

// MatchResponse lists other episodes that may be the same person. Linking
// them is a decision an agency makes (episode.linked), never automatic.
type MatchResponse struct {
	Episode string  `json:"episode"`
	Matches []Match `json:"matches"`
}

// Config configures the record.
type Config struct {
	Bus *natsbus.Bus // connected as events.Record
	Log *zap.Logger
	Now func() time.Time
	// CatchUpEvery is how often the record checks that it missed no fact
	// of the stream (default DefaultCatchUpEvery; see catchup.go).
	CatchUpEvery time.Duration
	// CheckpointLag is how old the floor saved as the checkpoint is
	// (default DefaultCheckpointLag; negative: the floor is saved at once).
	CheckpointLag time.Duration
	// Places is the directory of places whose live state the record keeps
	// (default places.Default, the seed places of Kent and Medway).
	Places *places.Directory
}

// Record is the running episode record: the projection and its API.
type Record struct {
	cfg   Config
	store *Store
	sub   *natsbus.Subscription
	svc   micro.Service
	// progress is what the projection applied; saved, its checkpoint as
	// stored; the catch-up loop closes caughtUpDone when it ends.
	progress *progress
	saved    uint64
	// floors are the floors of the last CheckpointLag, oldest first;
	// server is the id of the server it was connected to at the last
	// check. Both are the catch-up loop's alone.
	floors       []floorAt
	server       string
	stopCatchUp  context.CancelFunc
	caughtUpDone chan struct{}
	// stopWorklists ends the watcher that keeps each agency's worklist.
	stopWorklists func()
	// stored is the disclosures this record has had acknowledged lately.
	stored storedIDs
	// runsPausedUntil (UnixNano): after a run failed, events are applied
	// one at a time until then.
	runsPausedUntil atomic.Int64
	// places is the live state of the directory of places (places.go).
	places *livePlaces
	// fresh is the episodes read lately from the stream, for commands and
	// views (fresh.go).
	fresh freshEpisodes
}

// Start opens the buckets, starts the projection (which carries on from
// wherever its durable consumer left off, and checks from its checkpoint
// that it missed no fact: see catchup.go) and serves the API.
func Start(ctx context.Context, cfg Config) (*Record, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	store, err := OpenStore(ctx, cfg.Bus.JetStream())
	if err != nil {
		return nil, err
	}
	if cfg.CatchUpEvery == 0 {
		cfg.CatchUpEvery = DefaultCatchUpEvery
	}
	switch {
	case cfg.CheckpointLag == 0:
		cfg.CheckpointLag = DefaultCheckpointLag
	case cfg.CheckpointLag < 0:
		cfg.CheckpointLag = 0
	}
	checkpoint, err := store.loadCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if err := store.refilePeople(ctx, cfg.Log); err != nil {
		return nil, err
	}
	if cfg.Places == nil {
		if cfg.Places, err = places.Default(); err != nil {
			return nil, err
		}
	}
	r := &Record{cfg: cfg, store: store, progress: newProgress(checkpoint), saved: checkpoint, stored: newStoredIDs(), fresh: newFreshEpisodes()}
	// The places' updates so far, read once before the consumer starts;
	// it hands on every later one (and any it delivers again: the latest
	// word of each place wins, whatever the order).
	if r.places, err = loadPlaces(ctx, cfg.Bus, cfg.Places, cfg.Log); err != nil {
		return nil, err
	}
	if r.stopWorklists, err = store.watchWorklists(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	// Applying an event takes milliseconds; one whose acknowledgement was
	// lost when the record stopped mid-event is delivered again after
	// AckWait, so keep it short: every agency's view waits on it.
	r.sub, err = cfg.Bus.Consume(ctx, natsbus.ConsumerConfig{Durable: Durable, Backoff: []time.Duration{100 * time.Millisecond, time.Second, 5 * time.Second},
		AckWait: 5 * time.Second, Rejected: func(ctx context.Context, u events.Unreadable) error {
			if err := store.MarkUnreadable(ctx, u); err != nil {
				return err
			}
			r.progress.add(u.Seq)
			return nil
		}},
		func(ctx context.Context, e events.Event) error {
			seq, ok := natsbus.StreamSeq(ctx)
			if ok && r.progress.has(seq) {
				return nil // folded already, in a run (see applyRun)
			}
			if from, to, run := r.runFor(seq, natsbus.Pending(ctx)); ok && run && time.Now().UnixNano() >= r.runsPausedUntil.Load() {
				err := r.applyRun(ctx, from, to)
				if err == nil && r.progress.has(seq) {
					return nil
				}
				if err == nil {
					err = errors.New("the run did not hold the event")
				}
				// The event alone, as if no run had been tried: a fact
				// the run could not fold fails only its own delivery.
				r.runsPausedUntil.Store(time.Now().Add(RunPause).UnixNano())
				cfg.Log.Warn("could not fold a run of events; applying them one at a time for a while",
					append(tracing.EventFields(e), zap.String("episode", e.Subject), zap.Uint64("stream_seq", seq), zap.String("cause", logsafe.Cause(err)), zap.Duration("for", RunPause))...)
			}
			if err := store.Apply(ctx, e); err != nil {
				if ok && r.outgrown(e, seq, err) {
					r.progress.add(seq)
					return nil
				}
				return err
			}
			r.places.apply(e)
			ops.RecordApplied(ctx, e, store.Get)
			if ok {
				r.progress.add(seq)
			}
			return nil
		})
	if err != nil {
		r.stopWorklists()
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	r.stopCatchUp, r.caughtUpDone = cancel, make(chan struct{})
	go r.keepCaughtUp(cctx, cfg.CatchUpEvery)
	r.svc, err = micro.AddService(cfg.Bus.Conn(), micro.Config{Name: ServiceName, Version: "1.0.0",
		Description: "crisisbus episode record: each agency's view of a crisis episode; every read recorded as a disclosure"})
	if err != nil {
		r.svc = nil
		r.Stop()
		return nil, fmt.Errorf("record service: %w", err)
	}
	if err := rpc.Serve(ctx, cfg.Log, r.svc, Commands(r)); err != nil {
		r.Stop()
		return nil, err
	}
	// Started means answering: the server holds every endpoint's
	// subscription before Start returns, so a first request finds them.
	if err := cfg.Bus.Conn().FlushTimeout(10 * time.Second); err != nil {
		r.Stop()
		return nil, fmt.Errorf("record service: %w", err)
	}
	return r, nil
}

// Commands are the record's commands, on crisisbus.record.<command>: what
// it serves, and what the contract describes (r is not used until a
// command runs).
func Commands(r *Record) []rpc.Command {
	cmds := []rpc.Command{
		rpc.Handle("disclosures", r.disclosures),
		rpc.Handle("match", r.match),
	}
	for _, a := range events.Agencies {
		cmds = append(cmds,
			rpc.Handle(string(a)+".places", r.placesFor).For(a),
			rpc.Handle(string(a)+".worklist", func(ctx context.Context, req WorklistRequest) (WorklistResponse, error) {
				return r.worklist(ctx, a, req)
			}).For(a),
			rpc.Handle(string(a)+".handedon", func(ctx context.Context, req WorklistRequest) (WorklistResponse, error) {
				return r.handedOn(ctx, a, req)
			}).For(a),
			rpc.Handle(string(a)+".search", func(ctx context.Context, req SearchRequest) (SearchResponse, error) {
				return r.search(ctx, a, req)
			}).For(a),
			rpc.Handle(string(a)+".repeat", func(ctx context.Context, req RepeatRequest) (RepeatResponse, error) {
				return r.repeat(ctx, a, req)
			}).For(a),
			rpc.Handle(string(a)+".state", func(ctx context.Context, req StateRequest) (StateResponse, error) {
				return r.state(ctx, a, req)
			}).For(a),
			rpc.Handle(string(a)+".view", func(ctx context.Context, req ViewRequest) (ViewResponse, error) {
				if req.Agency != "" && req.Agency != a {
					return ViewResponse{}, events.Errorf(events.Invalid, "this is the %s view; agency %s asks on %s", a, req.Agency, ViewSubject(req.Agency))
				}
				req.Agency = a
				return r.view(ctx, req)
			}).For(a))
	}
	return rpc.Under("crisisbus.record", "", cmds)
}

// Stop stops serving and consuming.
func (r *Record) Stop() {
	if r.svc != nil {
		_ = r.svc.Stop()
	}
	if r.sub != nil {
		r.sub.Stop()
	}
	if r.stopCatchUp != nil {
		r.stopCatchUp()
		<-r.caughtUpDone
	}
	if r.stopWorklists != nil {
		r.stopWorklists()
	}
}

// Store is the record's projection.
func (r *Record) Store() *Store { return r.store }

func (r *Record) view(ctx context.Context, req ViewRequest) (ViewResponse, error) {
	var (
		resp           ViewResponse
		known, hasPart bool
		hasAfter       bool
		traceID        string
	)
	read := func() error {
		return r.fresh.read(ctx, r.cfg.Bus, req.Episode, func(e *freshEpisode) error {
			known, hasPart, traceID = e.seq > 0, e.v.HasPart(req.Agency), e.v.TraceID
			hasAfter = req.After == "" || e.v.Has(req.After)
			raw, fields, err := e.cut(req.Agency)
			if err != nil {
				return events.Errorf(events.Invalid, "%v", err)
			}
			resp = ViewResponse{Episode: req.Episode, Agency: req.Agency, Fields: fields, View: raw}
			return nil
		})
	}
	err := read()
	// The event asked for is on the stream once its publish was
	// acknowledged; in a cluster the replica that answers may be a moment
	// behind, so the view waits for it a little, then answers as it stands.
	for deadline := time.Now().Add(AfterWait); err == nil && !hasAfter && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ViewResponse{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		err = read()
	}
	if err != nil {
		return ViewResponse{}, err
	}
	if !known {
		return ViewResponse{}, fmt.Errorf("%w %s", episode.ErrUnknownEpisode, req.Episode)
	}
	purpose := req.Purpose
	if !hasPart {
		if req.Reason == "" {
			return ViewResponse{}, events.Errorf(events.Forbidden, "%s (%s has no part in episode %s)", episode.NoPartMessage, req.Agency, req.Episode)
		}
		purpose = episode.NoPartPurpose + req.Reason
	}
	// The disclosure is stored before the view is sent: a view whose
	// disclosure could not be recorded is not shown.
	ids, err := r.disclose(ctx, req.Viewer, req.Agency, purpose, []disclosure{{episode: req.Episode, fields: resp.Fields, trace: traceID}})
	if err != nil {
		return ViewResponse{}, err
	}
	resp.DisclosureID = ids[0]
	return resp, nil
}

func (r *Record) disclosures(ctx context.Context, req EpisodeRequest) (DisclosuresResponse, error) {
	d, err := r.store.Disclosures(ctx, req.Episode)
	if d.Entries == nil {
		d.Entries = []Disclosure{}
	}
	return DisclosuresResponse{Episode: req.Episode, Disclosures: d.Entries, Dropped: d.Dropped, DroppedUpTo: d.DroppedUpTo}, err
}

func (r *Record) match(ctx context.Context, req EpisodeRequest) (MatchResponse, error) {
	m, err := r.store.Matches(ctx, req.Episode)
	return MatchResponse{Episode: req.Episode, Matches: m}, err
}

// DeterministicID derives an event id from a seed, so that a fact published
// again after a crash (the same seed) is dropped by the server as a repeat.
func DeterministicID(seed string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("crisisbus/"+seed)).String()
}
