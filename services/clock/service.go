// Package clock is the clock service: it keeps every legal and handoff
// clock of every episode, publishes crisisbus.clock.warning before a clock
// breaks and crisisbus.clock.breached when it does (repeated until
// resolved), and survives a restart of every process.
//
// The clocks it keeps:
//   - s136: the permitted period (law.Detention): 24h from arrival at the
//     place of safety or from the decision to keep the person where they
//     are, plus a lawful extension; stops when the assessment concludes or
//     the person is released. Owner: the AMHP service.
//   - welfare_check: every 30 minutes while an adult is held in a police
//     station. Owner: the police.
//   - handoff_acknowledge, handoff_accept: each handoff's configured times
//     from the offer. Owner: the agency the handoff is addressed to.
//   - followup_contact: each call of the 4-day follow-up of a person
//     referred to the helpline, missed when not made within a grace period
//     of its due time. Owner: the helpline.
//
// Durable and exact. Each clock is a record in a JetStream KV bucket, written
// (with revision checks) by the handlers of a durable consumer. A scanner,
// driven by an injectable clock, keeps an in-memory index of when each clock
// is next due, rebuilt at start from the bucket by a KV watcher. When a clock
// is due the scanner publishes the event first and then marks it fired in
// the record; the event id is a UUIDv5 of the clock, due time and repeat, so
// if the process dies between the two the publish after restart is dropped by
// the stream's duplicate window: no lost breach, no second breach.
//
// Never a false alarm. Before a clock is judged, the clock knows every fact
// stored for its episode: the scanner reads the episode's facts directly (a
// direct get, no consumer) and applies them first, so a handoff accepted or
// a person released just before the due time never breaches because the
// fact was still in flight; and it publishes only if the episode has no
// fact stored since that read (ExpectEpisodeSeq), so a replica a moment
// behind, in a cluster, cannot hide a release: the publish is refused and
// the clock reads again. A clock whose due
// time had already passed when its facts arrived (history being imported) is
// judged only once the facts handled have passed its due time, or the stream
// has been quiet for MaxLag: a detention that ended before its period ran
// out is never reported as a breach because its release was still further
// down the import.
//
// Why not JetStream message schedules (Nats-Schedule): they fire on the
// server's real time, so a test cannot run a 24-hour period in milliseconds,
// and moving a due time (an extension, a welfare check) means deleting and
// re-publishing a scheduled message rather than rewriting one record.
package clock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// Service is a running clock service.
type Service struct {
	bus *natsbus.Bus
	kv  jetstream.KeyValue
	cfg Config
	log *zap.Logger
	idx *index
	// keys is every stored clock's key by episode (see keys).
	keys *keys

	scanned atomic.Int64 // the (injected) time of the last complete scan
	fired   atomic.Int64 // events published by this instance
	stats   *lateness    // how late, in real time, each breach was published

	cancel context.CancelFunc
	wg     sync.WaitGroup
	sub    *natsbus.Subscription
	cons   jetstream.Consumer // the subscription's consumer, to see whether it has caught up
	once   sync.Once

	// handledThrough is the latest envelope time of the facts the consumer
	// has handled (UnixNano): facts reach the stream in time order, so every
	// fact of a clock due by then has been handled.
	handledThrough atomic.Int64
	lastThrough    int64     // scanner only: handledThrough at the last scan
	still          time.Time // scanner only: since when handledThrough has not moved
	lagLogged      bool

	// beforeFire, for tests, is called between reading an episode and
	// publishing what is due on its clocks.
	beforeFire atomic.Pointer[func(episode string)]
	// rebuiltOne, for tests, is called after each episode a rebuild has
	// read again (ctx is the rebuild's).
	rebuiltOne atomic.Pointer[func(ctx context.Context, episode string)]

	// The bucket's loss (rebuild.go): lost is a sign that it may be gone;
	// gate keeps the consumer's handlers and the scanner out of the bucket
	// while rebuilding, and rebuilt is closed when the rebuild under way
	// is over.
	lost       chan struct{}
	gate       sync.RWMutex
	rebuilding atomic.Bool
	rebuilt    chan struct{}
	// The current watcher of the bucket: stopWatch stops it, watching is
	// closed once it has stopped.
	stopWatch context.CancelFunc
	watching  chan struct{}
}

// Start opens the KV bucket (provisioned by the admin), loads every stored clock, and starts the
// consumer and the scanner. A bucket provisioned again empty after it was
// lost, or one whose rebuild was left unfinished, is first rebuilt from
// the event stream (rebuild.go). bus must be
// connected as events.Clock.
func Start(ctx context.Context, bus *natsbus.Bus, cfg Config) (*Service, error) {
	if bus.Agency() != events.Clock {
		return nil, fmt.Errorf("clock service: bus publishes as %q, want %q", bus.Agency(), events.Clock)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clock service config: %w", err)
	}
	kv, err := rights.OpenBucket(ctx, bus.JetStream(), cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("clock service: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Service{bus: bus, kv: kv, cfg: cfg, log: bus.Logger().Named("clock"), idx: newIndex(), keys: newKeys(),
		cancel: cancel, stats: newLateness(), lost: make(chan struct{}, 1)}
	if err := s.startWatch(ctx, rctx); err != nil {
		s.Stop()
		return nil, err
	}
	// A bucket lost while the service was stopped, and provisioned again
	// empty, holds none of the clocks the consumer has handled facts for;
	// one whose rebuild was left unfinished, not all of them.
	why, rebuild := s.bucketRemade(ctx)
	if !rebuild {
		if why, rebuild, err = s.rebuildUnfinished(ctx); err != nil {
			s.Stop()
			return nil, err
		}
	}
	if rebuild {
		if err := s.rebuild(ctx, rctx, why); err != nil {
			s.Stop()
			return nil, err
		}
	}
	s.sub, err = bus.Consume(rctx, natsbus.ConsumerConfig{Durable: cfg.Durable, Filters: filters()}, s.consume)
	if err != nil {
		s.Stop()
		return nil, err
	}
	if s.cons, err = bus.JetStream().Consumer(ctx, natsbus.Stream, cfg.Durable); err != nil {
		s.Stop()
		return nil, fmt.Errorf("clock consumer: %w", err)
	}
	s.wg.Add(2)
	go s.scan(rctx)
	go s.keep(rctx)
	go func() { // a caller's cancellation stops the service too
		select {
		case <-ctx.Done():
			s.Stop()
		case <-rctx.Done():
		}
	}()
	return s, nil
}

// Stop stops consuming and scanning and waits until both have.
func (s *Service) Stop() {
	s.once.Do(func() {
		if s.sub != nil {
			s.sub.Stop()
		}
		s.cancel()
		s.wg.Wait()
	})
}

// Live is how many running clocks the scanner holds.
func (s *Service) Live() int { return s.idx.len() }

// ScannedThrough is the (injected) time up to which every due clock has been
// published: the time of the last complete scan (a scan in which a clock
// could not be fired, and will be tried again, is not complete).
func (s *Service) ScannedThrough() time.Time { return time.Unix(0, s.scanned.Load()).UTC() }

// Clocks returns the stored clocks of an episode, running or stopped.
func (s *Service) Clocks(ctx context.Context, episode string) (map[string]Clock, error) {
	keys, err := s.keysOf(ctx, episode, episode+".>")
	if err != nil {
		return nil, fmt.Errorf("list clocks of episode %s: %w", episode, err)
	}
	out := map[string]Clock{}
	for _, k := range keys {
		c, _, err := s.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if c != nil {
			out[k] = *c
		}
	}
	return out, nil
}

// keysOf returns the stored clocks of episode whose keys match filter, from
// what the watcher keeps: it first waits until the watcher has read the
// bucket as far as it goes now, so a clock another instance has just
// written is there. It asks the server for the bucket's last revision (one
// request) and makes no consumer.
func (s *Service) keysOf(ctx context.Context, episode, filter string) ([]string, error) {
	st, err := s.bus.JetStream().Stream(ctx, "KV_"+s.cfg.Bucket)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.keys.waitSeen(wctx, st.CachedInfo().State.LastSeq); err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// Never stop fewer clocks than are stored: list the bucket.
		s.log.Warn("the clock's watcher is behind its bucket; listing the episode's clocks from the bucket",
			append(tracing.Fields(ctx), zap.String("episode", episode), zap.String("cause", logsafe.Cause(err)))...)
		l, err := s.kv.ListKeysFiltered(ctx, filter)
		if err != nil {
			return nil, err
		}
		var keys []string
		for k := range l.Keys() {
			keys = append(keys, k)
		}
		return keys, nil
	}
	return s.keys.matching(episode, filter), nil
}

// startWatch starts a watcher of the bucket (see watch), stopped with
// run or when the clocks are rebuilt, and waits until the index holds
// every stored clock.
func (s *Service) startWatch(ctx, run context.Context) error {
	wctx, stop := context.WithCancel(run)
	w, err := s.kv.WatchAll(wctx)
	if err != nil {
		stop()
		return fmt.Errorf("watch clock bucket: %w", s.bucketErr(err))
	}
	ready, done := make(chan struct{}), make(chan struct{})
	s.stopWatch, s.watching = stop, done
	s.wg.Add(1)
	go s.watch(wctx, w, ready, done)
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watch keeps the index in step with the bucket: every stored clock at
// start (then ready is closed), then every change any instance makes.
// A watch that ends by itself is a sign the bucket may be gone.
func (s *Service) watch(ctx context.Context, w jetstream.KeyWatcher, ready, done chan struct{}) {
	defer s.wg.Done()
	defer close(done)
	defer func() { _ = w.Stop() }()
	loaded := false
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-w.Updates():
			if !ok {
				s.signalLost()
				return
			}
			if u != nil && u.Key() == RebuildMark {
				s.keys.saw(u.Revision()) // no clock
				continue
			}
			if u == nil {
				if !loaded {
					loaded = true
					close(ready)
				}
				continue
			}
			if u.Operation() != jetstream.KeyValuePut {
				s.idx.set(u.Key(), time.Time{}, false)
				s.keys.drop(u.Key())
				s.keys.saw(u.Revision())
				continue
			}
			s.keys.add(u.Key())
			var c Clock
			if err := json.Unmarshal(u.Value(), &c); err != nil {
				s.log.Error("unreadable clock record", zap.String("key", u.Key()), zap.String("cause", logsafe.Cause(err)))
				s.keys.saw(u.Revision())
				continue
			}
			at, ok := c.next()
			s.idx.set(u.Key(), at, ok)
			s.keys.saw(u.Revision())
		}
	}
}

// scan publishes what is due every Tick of real time, reading the injected
// clock (the index is loaded before it starts).
func (s *Service) scan(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		s.scanOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// judging is how the scanner judges the clocks due in one scan.
type judging struct {
	now            time.Time
	caughtUp       bool      // the consumer has handled every fact stored
	handledThrough time.Time // the latest fact time the consumer has handled
	quiet          bool      // handledThrough has not moved for MaxLag
}

func (s *Service) scanOnce(ctx context.Context) {
	// Nothing is judged on a bucket being rebuilt: its clocks do not yet
	// hold what they have published.
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.rebuilding.Load() {
		return
	}
	now := s.cfg.Now()
	j := judging{now: now, caughtUp: s.caughtUp(ctx)}
	through := s.handledThrough.Load()
	if through != s.lastThrough || s.still.IsZero() {
		s.lastThrough, s.still = through, time.Now()
	}
	j.handledThrough = time.Unix(0, through)
	j.quiet = time.Since(s.still) >= s.cfg.MaxLag
	if j.caughtUp || !j.quiet {
		s.lagLogged = false
	} else if !s.lagLogged {
		s.log.Warn("the clock consumer is behind and not moving; judging due clocks on each episode's facts read directly",
			zap.Duration("still_for", time.Since(s.still)))
		s.lagLogged = true
	}
	// Clocks to look at again at the next scan (put back in the index only
	// once this scan is over, or it would pop them again at once).
	var later sync.Map
	defer later.Range(func(k, at any) bool { s.idx.set(k.(string), at.(time.Time), true); return true })
	var failed atomic.Bool // a clock could not be fired: the scan is not complete
	for {
		due := s.idx.popDue(now, 4096)
		if len(due) == 0 {
			break
		}
		work := make(chan string)
		var wg sync.WaitGroup
		for range min(s.cfg.Workers, len(due)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range work {
					wait, err := s.judge(ctx, k, j)
					if err != nil {
						if ctx.Err() != nil {
							return
						}
						s.log.Error("clock not fired; will retry", zap.String("key", k), zap.String("cause", logsafe.Cause(err)))
						wait = now
						failed.Store(true)
					}
					if !wait.IsZero() {
						later.Store(k, wait)
					}
				}
			}()
		}
	send:
		for _, k := range due {
			select {
			case work <- k:
			case <-ctx.Done():
				break send
			}
		}
		close(work)
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
	}
	if !failed.Load() {
		s.scanned.Store(now.UnixNano())
	}
}

// caughtUp reports whether the consumer has handled every event stored so far.
func (s *Service) caughtUp(ctx context.Context) bool {
	info, err := s.cons.Info(ctx)
	if err != nil {
		return false
	}
	return info.NumPending == 0 && info.NumAckPending == 0
}

// consume handles a fact delivered by the consumer and moves the time the
// consumer has handled facts through.
func (s *Service) consume(ctx context.Context, e events.Event) error {
	if err := s.handleLive(ctx, e); err != nil {
		return err
	}
	t := e.Time.UnixNano()
	for {
		cur := s.handledThrough.Load()
		if t <= cur || s.handledThrough.CompareAndSwap(cur, t) {
			return nil
		}
	}
}

// judge decides whether a due clock may be judged now, bringing it up to
// date with its episode's stored facts first when the consumer is behind,
// and fires it if so; otherwise it returns when to look at it again.
func (s *Service) judge(ctx context.Context, key string, j judging) (later time.Time, err error) {
	c, _, err := s.get(ctx, key)
	if err != nil || c == nil {
		return time.Time{}, err
	}
	at, ok := c.next()
	if !ok {
		return time.Time{}, nil
	}
	if c.Late && at.After(j.handledThrough) && !j.quiet {
		return at, nil // facts that stop it may still be coming
	}
	// Judged on every fact of the episode read now, and published only if
	// none has been stored since: in a cluster the replica that answers a
	// read may be a moment behind, and a release it had not yet seen must
	// not become a breach.
	for attempt := 0; ; attempt++ {
		seq, err := s.catchUpEpisode(ctx, c.Episode)
		if err != nil {
			return time.Time{}, err
		}
		if hook := s.beforeFire.Load(); hook != nil {
			(*hook)(c.Episode)
		}
		err = s.fire(ctx, key, j.now, seq)
		if !errors.Is(err, natsbus.ErrConflict) || attempt == maxFireAttempts-1 {
			return time.Time{}, err
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
}

// maxFireAttempts bounds how often a clock is judged again because its
// episode changed between the read and the publish.
const maxFireAttempts = 5

// catchUpEpisode applies every stored fact of an episode to its clocks, read
// directly from the stream (handling a fact again changes nothing), and
// returns the stream sequence of the episode's last fact.
func (s *Service) catchUpEpisode(ctx context.Context, episode string) (uint64, error) {
	ctx = context.WithValue(ctx, replayKey{}, true)
	r := rebuildOf(ctx)
	seq, err := s.bus.Replay(ctx, events.EpisodeSubjects(episode), func(e events.Event, _ uint64) error {
		if r != nil {
			r.at = e.Time
			if e.Source == events.Clock {
				return s.markFired(ctx, r, e) // what the clock published, read back into a bucket made again
			}
		}
		if !consumes(e.Type) {
			return nil
		}
		return s.handle(ctx, e)
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("read the facts of episode %s: %w", episode, err)
	}
	return seq, nil
}

// fire publishes what is due on one clock, then records it as fired. The
// order matters: publish first, so a crash loses nothing; the deterministic
// event id makes the publish after a crash a duplicate the stream drops.
// Each publish is conditioned on the episode's last fact being still at
// stream sequence seq (natsbus.ErrConflict otherwise).
func (s *Service) fire(ctx context.Context, key string, now time.Time, seq uint64) error {
	for attempt := 0; attempt < 5; attempt++ {
		c, rev, err := s.get(ctx, key)
		if err != nil {
			return err
		}
		if c == nil {
			return nil
		}
		scheduled, hadWarned := c.DueAt, c.Warned
		if c.Breaches > 0 {
			scheduled = c.NextBreachAt
		}
		warning, breach := c.advance(now)
		var data any
		var id string
		switch {
		case warning != nil:
			data, id = warning, eventID(key, "warning", warning.DueAt, 0)
		case breach != nil:
			data, id = breach, eventID(key, "breach", breach.DueAt, breach.Repeat)
		}
		if data != nil {
			opts := []events.Option{events.WithID(id), events.At(now)}
			if c.Cause != "" {
				cause := c.Cause
				opts = append(opts, func(e *events.Event) { e.CausationID = cause })
			}
			tctx, span := c.span(ctx, "clock "+string(c.Kind))
			e, ack, err := s.bus.EmitExpecting(tctx, c.Episode, seq, data, opts...)
			span.End(err)
			if err != nil {
				return fmt.Errorf("publish %s of clock %s: %w", e.Type, key, err)
			}
			if !ack.Duplicate {
				seq = ack.Sequence // a warning due late, then its breach
			}
			s.fired.Add(1)
			ops.ClockFired(c.Kind, breach, ack.Duplicate)
			if breach != nil {
				s.stats.add(s.cfg.Now().Sub(scheduled))
			}
			// A breach is the domain working as designed, not a software
			// error: logged at warn, published as an event.
			s.log.Warn("clock "+map[bool]string{true: "breached", false: "warning"}[breach != nil],
				append(tracing.Fields(tctx), zap.String("episode", c.Episode), zap.String("event_id", e.ID), zap.String("owner", string(c.Owner)),
					zap.String("clock", string(c.Kind)), zap.String("ref", c.Ref), zap.Time("due", c.DueAt),
					zap.Bool("duplicate", ack.Duplicate))...)
		} else if hadWarned == c.Warned {
			at, ok := c.next()
			s.idx.set(key, at, ok)
			return nil
		}
		raw, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := s.kv.Update(ctx, key, raw, rev); err != nil {
			if conflict(err) {
				continue // a handler moved the clock meanwhile: look again
			}
			return fmt.Errorf("mark clock %s fired: %w", key, s.bucketErr(err))
		}
		at, ok := c.next()
		s.idx.set(key, at, ok)
		if ok && !at.After(now) {
			continue // something else is due already (a late warning then a breach)
		}
		return nil
	}
	return fmt.Errorf("clock %s: too many concurrent changes", key)
}

// get reads a clock and its revision; nil when there is none.
func (s *Service) get(ctx context.Context, key string) (*Clock, uint64, error) {
	ent, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read clock %s: %w", key, s.bucketErr(err))
	}
	var c Clock
	if err := json.Unmarshal(ent.Value(), &c); err != nil {
		return nil, 0, fmt.Errorf("clock %s: %w", key, err)
	}
	return &c, ent.Revision(), nil
}

// update reads a clock (a zero Clock when there is none), lets fn change it,
// and writes it back only if fn reports a change and nobody else wrote it
// meanwhile; on a conflict it reads again and retries.
func (s *Service) update(ctx context.Context, key string, fn func(c *Clock) bool) error {
	for attempt := 0; attempt < 10; attempt++ {
		c, rev, err := s.get(ctx, key)
		if err != nil {
			return err
		}
		if c == nil {
			c = &Clock{}
		}
		wasRunning := c.Running()
		if !fn(c) {
			return nil
		}
		if wasRunning && !c.Running() && c.Breaches == 0 && c.StoppedAt.After(c.DueAt) {
			if r := rebuildOf(ctx); r != nil {
				// Rebuilding: the breach may be further on in the
				// episode, published already (see rebuildEpisode).
				r.stoppedLate(key)
			} else if err := s.breachFoundLate(ctx, key, c); err != nil {
				return err
			}
		}
		at, ok := c.next()
		asOf := s.cfg.Now()
		if r := rebuildOf(ctx); r != nil {
			asOf = r.at // rebuilt: late if already due when its fact was
		}
		c.Late = ok && !at.After(asOf)
		raw, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, raw)
		} else {
			_, err = s.kv.Update(ctx, key, raw, rev)
		}
		if err == nil {
			at, ok := c.next()
			s.idx.set(key, at, ok)
			s.keys.add(key)
			return nil
		}
		if !conflict(err) {
			return fmt.Errorf("write clock %s: %w", key, s.bucketErr(err))
		}
	}
	return fmt.Errorf("clock %s: too many concurrent changes", key)
}

// breachFoundLate publishes the breach of a clock that stopped after its due
// time without a breach published: the facts arrived after the time was over
// (history imported, or the clock was down). The law was broken all the
// same, so it is on the record, with how long over. Its id is the one the
// scanner would have given it, so it is never published twice.
func (s *Service) breachFoundLate(ctx context.Context, key string, c *Clock) error {
	b := &events.ClockBreached{Clock: c.Kind, Ref: c.Ref, Owner: c.Owner, DueAt: c.DueAt,
		SecondsOver: int(c.StoppedAt.Sub(c.DueAt) / time.Second)}
	opts := []events.Option{events.WithID(eventID(key, "breach", c.DueAt, 0)), events.At(s.cfg.Now())}
	if c.Cause != "" {
		cause := c.Cause
		opts = append(opts, func(e *events.Event) { e.CausationID = cause })
	}
	ctx, span := c.span(ctx, "clock "+string(c.Kind)+" breached late")
	e, ack, err := s.bus.Emit(ctx, c.Episode, b, opts...)
	span.End(err)
	if err != nil {
		return fmt.Errorf("publish the breach of clock %s found when it stopped: %w", key, err)
	}
	c.Breaches = 1
	s.fired.Add(1)
	ops.ClockFired(c.Kind, b, ack.Duplicate)
	s.log.Warn("clock breached (found when it stopped, after its due time)", append(tracing.Fields(ctx), zap.String("episode", c.Episode),
		zap.String("event_id", e.ID), zap.String("owner", string(c.Owner)), zap.String("clock", string(c.Kind)),
		zap.Time("due", c.DueAt), zap.Time("stopped", c.StoppedAt), zap.Bool("duplicate", ack.Duplicate))...)
	return nil
}

// span is the clock's work on c (a warning, a breach) as a span of the
// episode's trace: a child of the span of the fact that set its due time.
// A clock set by a fact without trace context publishes under ctx's span,
// if any.
func (c *Clock) span(ctx context.Context, name string) (context.Context, *tracing.Span) {
	tc, err := events.ParseTraceParent(c.Trace)
	if err != nil {
		return ctx, nil
	}
	return tracing.Start(tracing.WithRemote(ctx, tc, ""), "crisisbus-clock", name, c.Episode, tc.TraceID)
}

func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
