package clock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/logsafe"
)

// The clocks' bucket lost under a running clock (deleted on the server by
// a NATS tool or a mistyped command, or lost with its store): its records
// are the clocks, so without them no warning or breach would come again,
// silently. The service notices (a read or write of the bucket failing as
// a missing stream fails, its watch ending, or a check every
// bucketCheckEvery), has it made again (Config.MakeBucket, or waits for
// the admin), and rebuilds every clock from the event stream: each
// episode with a fact that starts, moves or stops a clock is read again
// as a clock is before it is judged (catchUpEpisode), and the warnings and
// breaches the clock published, stored on the same timeline, are read back
// into the clocks they were published for. So nothing is published twice
// (the stream's duplicate window, a day, forgets older ids) and nothing
// due is lost: what fell due meanwhile is published once the rebuild is
// over. While it runs the consumer's facts wait and nothing is judged.
//
// A rebuild is durable: before it writes any clock it writes a record of
// its own to the bucket (RebuildMark), deleted only once every episode has
// been read again. A process killed part-way leaves the record, and its
// next start rebuilds again, as it would a bucket found empty: the clocks
// of the episodes the first rebuild had not reached are not left missing,
// and those it had are read again, publishing nothing twice (what was
// published is read back, as before).

// RebuildMark is the key of the record a rebuild of the clocks is under
// way, or was left unfinished. It is no episode's (an episode's clocks'
// keys begin with its id), and no clock is read from it.
const RebuildMark = "rebuild_unfinished"

// RebuildRecord is what the rebuild's record says, for an admin who reads
// the bucket: since when (real time), and why.
type RebuildRecord struct {
	Began time.Time `json:"began"`
	Why   string    `json:"why"`
}

// bucketCheckEvery is how often, in real time, the service checks that its
// bucket is still there when nothing else has said otherwise.
const bucketCheckEvery = 5 * time.Second

// signalLost says the bucket may be gone; keep checks.
func (s *Service) signalLost() {
	select {
	case s.lost <- struct{}{}:
	default:
	}
}

// bucketErr is err, a failed read or write of the bucket; one that a
// missing bucket gives (no stream answers) makes keep check the bucket.
func (s *Service) bucketErr(err error) error {
	if missingBucketErr(err) {
		s.signalLost()
	}
	return err
}

// missingBucketErr reports whether err is what a read or write of a
// missing bucket gives (or a store full or stopped does).
func missingBucketErr(err error) bool {
	return natsbus.StoreUnavailable(err) || errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
}

// keep checks that the bucket is there, when told it may be gone and
// every bucketCheckEvery, and rebuilds the clocks when it is not.
func (s *Service) keep(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(bucketCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.lost:
		case <-t.C:
		}
		if !s.bucketGone(ctx) {
			continue
		}
		_ = s.rebuild(ctx, ctx, fmt.Sprintf("the clocks' bucket %s is gone from the NATS server (deleted, or lost with its store) "+
			"while the clock service ran: every clock it held is missing", s.cfg.Bucket))
	}
}

// bucketGone reports whether the server says the bucket's stream is not there.
func (s *Service) bucketGone(ctx context.Context) bool {
	_, err := s.bus.JetStream().Stream(ctx, "KV_"+s.cfg.Bucket)
	return errors.Is(err, jetstream.ErrStreamNotFound)
}

// bucketRemade reports whether the bucket was made again, empty, since the
// clock last ran: it has never been written to, while the clock's consumer
// has handled facts (it is not a new crisisbus).
func (s *Service) bucketRemade(ctx context.Context) (string, bool) {
	js := s.bus.JetStream()
	st, err := js.Stream(ctx, "KV_"+s.cfg.Bucket)
	if err != nil || st.CachedInfo().State.LastSeq > 0 {
		return "", false
	}
	c, err := js.Consumer(ctx, natsbus.Stream, s.cfg.Durable)
	if err != nil || c.CachedInfo().AckFloor.Stream == 0 {
		return "", false
	}
	return fmt.Sprintf("the clocks' bucket %s is empty, but the clock has handled facts before (up to stream sequence %d): "+
		"the bucket was lost while the clock service was stopped and provisioned again empty, so every clock it held is missing",
		s.cfg.Bucket, c.CachedInfo().AckFloor.Stream), true
}

// rebuildUnfinished reports whether a rebuild of the clocks was begun and
// never finished (its record is in the bucket): the process was killed, or
// stopped, part-way, and the episodes it had not reached have no clocks.
func (s *Service) rebuildUnfinished(ctx context.Context) (string, bool, error) {
	ent, err := s.kv.Get(ctx, RebuildMark)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("clock service: read whether a rebuild of the clocks' bucket %s was left unfinished: %w", s.cfg.Bucket, err)
	}
	var r RebuildRecord
	_ = json.Unmarshal(ent.Value(), &r)
	return fmt.Sprintf("a rebuild of the clocks' bucket %s from the event stream, begun %s, did not finish (the clock service was killed or stopped part-way): "+
		"the clocks of the episodes it had not reached are missing", s.cfg.Bucket, r.Began.UTC().Format(time.RFC3339)), true, nil
}

// bucketLostError is the failure of a fact the consumer delivers while
// the clocks' bucket is lost: missing, or being made again and its clocks
// rebuilt. Neither the fact nor the store is at fault, so the fact waits
// in place, delivered again until the clocks are back (natsbus counts it
// as the store unavailable: never dead-lettered), and the consumer's log
// says so in these words (logsafe.Fixed), not that the store is full or
// stopped, nor that a server did not answer.
type bucketLostError struct {
	bucket string
	err    error // the read or write of the missing bucket that failed, if any
}

func (e bucketLostError) Error() string {
	if e.err == nil {
		return e.FixedWords()
	}
	return e.FixedWords() + ": " + e.err.Error()
}

func (e bucketLostError) FixedWords() string {
	return "the clocks' bucket " + e.bucket + " was lost (deleted, or lost with its store) and is being made again, " +
		"its clocks rebuilt from the event stream"
}

func (e bucketLostError) Unwrap() error        { return e.err }
func (bucketLostError) StoreUnavailable() bool { return true }

// handleLive handles a fact the consumer delivers, once no rebuild is
// under way (waiting a few seconds for one to end); a fact that fails
// because the bucket is missing fails as bucketLostError.
func (s *Service) handleLive(ctx context.Context, e events.Event) error {
	for {
		s.gate.RLock()
		if !s.rebuilding.Load() {
			break
		}
		over := s.rebuilt
		s.gate.RUnlock()
		select {
		case <-over:
		case <-time.After(5 * time.Second):
			return bucketLostError{bucket: s.cfg.Bucket}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := s.handle(ctx, e)
	s.gate.RUnlock()
	if err != nil && missingBucketErr(err) && s.bucketGone(ctx) {
		return bucketLostError{bucket: s.cfg.Bucket, err: err}
	}
	return err
}

// rebuild has the bucket made again (or waits for it) and rebuilds every
// clock from the event stream, trying again until it has or ctx is done;
// meanwhile the consumer's facts wait and nothing is judged. why says, in
// words, what happened; run is the service's life (its watcher's).
func (s *Service) rebuild(ctx, run context.Context, why string) error {
	s.gate.Lock()
	s.rebuilding.Store(true)
	s.rebuilt = make(chan struct{})
	s.gate.Unlock()
	defer func() {
		s.gate.Lock()
		s.rebuilding.Store(false)
		close(s.rebuilt)
		s.gate.Unlock()
	}()
	s.log.Error(why+"; no warning or breach is published until the bucket is there again and its clocks are rebuilt from the event stream",
		zap.String("bucket", s.cfg.Bucket))
	if err := s.awaitBucket(ctx); err != nil {
		return err
	}
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		start := time.Now()
		n, err := s.rebuildOnce(ctx, run, why)
		if err == nil {
			s.log.Error("the clocks' bucket was made again and its clocks rebuilt from the event stream; warnings and breaches are published again",
				zap.String("bucket", s.cfg.Bucket), zap.Int64("episodes", n.episodes.Load()), zap.Int("clocks", s.keys.count()),
				zap.Int("running", s.idx.len()), zap.Int64("already_published", n.alarms.Load()),
				zap.Int64("late_breaches_published", n.late.Load()), zap.Duration("took", time.Since(start).Round(time.Millisecond)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Error("could not rebuild the clocks from the event stream; trying again, still publishing nothing",
			zap.String("cause", logsafe.Cause(err)), zap.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// awaitBucket has the bucket made again, or waits until the admin has
// made it, saying so every minute.
func (s *Service) awaitBucket(ctx context.Context) error {
	var said time.Time
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		var made error
		if s.cfg.MakeBucket != nil {
			made = s.cfg.MakeBucket(ctx)
		}
		if !s.bucketGone(ctx) {
			if _, err := rights.OpenBucket(ctx, s.bus.JetStream(), s.cfg.Bucket); err == nil {
				return nil
			}
		}
		if time.Since(said) >= time.Minute {
			said = time.Now()
			if made != nil {
				s.log.Error("could not make the clocks' bucket again; trying again", zap.String("bucket", s.cfg.Bucket),
					zap.String("cause", logsafe.Cause(made)))
			} else {
				s.log.Error("waiting for the clocks' bucket to be provisioned again by the admin user (`crisisbus up`, or `crisisbus serve` with the admin's credentials)",
					zap.String("bucket", s.cfg.Bucket))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// rebuilt counts what a rebuild did, for its log line.
type rebuiltCounts struct {
	episodes atomic.Int64 // episodes read again
	alarms   atomic.Int64 // warnings and breaches read back as published
	late     atomic.Int64 // breaches of clocks stopped after their due time, published now
}

// episodeRebuild is, in a context, the rebuild of one episode's clocks:
// what the clock published is read back into them (markFired), and the
// clocks that stopped after their due time without a breach are noted, to
// be judged once the whole episode has been read.
type episodeRebuild struct {
	n *rebuiltCounts
	// at is the time of the fact or alarm being read (a clock already due
	// then is marked Late, as one is when its facts arrive after its due
	// time: history being imported).
	at   time.Time
	mu   sync.Mutex
	late []string
}

type rebuildKey struct{}

func rebuildOf(ctx context.Context) *episodeRebuild {
	r, _ := ctx.Value(rebuildKey{}).(*episodeRebuild)
	return r
}

func (r *episodeRebuild) stoppedLate(key string) {
	r.mu.Lock()
	r.late = append(r.late, key)
	r.mu.Unlock()
}

// rebuildOnce watches the bucket afresh and rebuilds the clocks of every
// episode with a clock's fact, Workers at a time, between writing the
// rebuild's record to the bucket and deleting it.
func (s *Service) rebuildOnce(ctx, run context.Context, why string) (*rebuiltCounts, error) {
	if s.stopWatch != nil {
		s.stopWatch()
		<-s.watching
	}
	s.idx.reset()
	s.keys.reset()
	if err := s.startWatch(ctx, run); err != nil {
		return nil, err
	}
	rec, err := json.Marshal(RebuildRecord{Began: time.Now().UTC(), Why: why})
	if err != nil {
		return nil, err
	}
	if _, err := s.kv.Put(ctx, RebuildMark, rec); err != nil {
		return nil, fmt.Errorf("note in the bucket that a rebuild is under way: %w", s.bucketErr(err))
	}
	eps, err := s.clockEpisodes(ctx)
	if err != nil {
		return nil, err
	}
	n := &rebuiltCounts{}
	work := make(chan string)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, max(len(eps), 1)) {
		wg.Go(func() {
			for ep := range work {
				if err := s.rebuildEpisode(ctx, n, ep); err != nil {
					select {
					case errs <- err:
					default:
					}
				} else if hook := s.rebuiltOne.Load(); hook != nil {
					(*hook)(ctx, ep)
				}
			}
		})
	}
send:
	for _, ep := range eps {
		select {
		case work <- ep:
		case err = <-errs:
			break send
		case <-ctx.Done():
			err = ctx.Err()
			break send
		}
	}
	close(work)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err == nil {
		if err = s.kv.Delete(ctx, RebuildMark); err != nil {
			err = fmt.Errorf("note in the bucket that the rebuild is over: %w", s.bucketErr(err))
		}
	}
	return n, err
}

// rebuildEpisode reads an episode's facts into its clocks, and what the
// clock published for them, as catchUpEpisode does before a judgement;
// then publishes the breach of a clock that stopped after its due time
// with none published (the fact that stopped it was being handled when
// the bucket was lost), as update would have.
func (s *Service) rebuildEpisode(ctx context.Context, n *rebuiltCounts, ep string) error {
	r := &episodeRebuild{n: n}
	if _, err := s.catchUpEpisode(context.WithValue(ctx, rebuildKey{}, r), ep); err != nil {
		return err
	}
	n.episodes.Add(1)
	for _, key := range r.late {
		c, _, err := s.get(ctx, key)
		if err != nil {
			return err
		}
		if c == nil || c.Breaches > 0 {
			continue // published already: read back from the stream
		}
		if err := s.breachFoundLate(ctx, key, c); err != nil {
			return err
		}
		n.late.Add(1)
		if err := s.update(ctx, key, func(c *Clock) bool {
			if c.Breaches > 0 {
				return false
			}
			c.Breaches = 1
			return true
		}); err != nil {
			return err
		}
	}
	return nil
}

// markFired reads a warning or breach the clock published back into the
// clock it was published for.
func (s *Service) markFired(ctx context.Context, r *episodeRebuild, e events.Event) error {
	v, err := e.Decode()
	if err != nil {
		return nil // not a clock's warning or breach
	}
	var (
		kind   events.ClockKind
		ref    string
		due    time.Time
		breach bool
		repeat int
	)
	switch d := v.(type) {
	case *events.ClockWarning:
		kind, ref, due = d.Clock, d.Ref, d.DueAt
	case *events.ClockBreached:
		kind, ref, due, breach, repeat = d.Clock, d.Ref, d.DueAt, true, d.Repeat
	default:
		return nil
	}
	key, ok := alarmKey(e.Subject, kind, ref)
	if !ok {
		return nil
	}
	r.n.alarms.Add(1)
	return s.update(ctx, key, func(c *Clock) bool { return c.fired(due, breach, repeat, e.Time) })
}

// clockEpisodes lists every episode with a fact that starts, moves or stops
// a clock, from the stream's index of subjects (no message is read).
func (s *Service) clockEpisodes(ctx context.Context) ([]string, error) {
	st, err := s.bus.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		return nil, fmt.Errorf("the event stream: %w", err)
	}
	seen := map[string]bool{}
	var eps []string
	for _, f := range filters() {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(f))
		if err != nil {
			return nil, fmt.Errorf("the episodes with facts on %s: %w", f, err)
		}
		for subj := range info.State.Subjects {
			// crisis.<source>.<episode>.<type>[.<to>]
			if tok := strings.SplitN(subj, ".", 4); len(tok) == 4 && !seen[tok[2]] {
				seen[tok[2]] = true
				eps = append(eps, tok[2])
			}
		}
	}
	return eps, nil
}
