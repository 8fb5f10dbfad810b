package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// The projection's progress: the record knows which facts of the stream it
// has applied, so it can tell when it missed one and take it from the
// stream.
//
// Its consumer never skips a message (events.Consume), yet a fact can leave
// the consumer unapplied: dead-lettered after repeated failures, or skipped
// by an earlier crisisbus, whose consumer gave up after five deliveries
// while the store was full. So the record keeps, in its views bucket under
// CheckpointKey, the stream sequence up to which every fact is in the
// projection. Every CatchUpEvery it compares what it applied with how far
// its consumer has got (the consumer's acknowledgement floor: every message
// at or below it was acknowledged or given up). A fact at or below that
// floor which it did not apply is checked against the projection, and if
// the projection lacks it, the episode's view is rebuilt from the stream,
// in order. At start the same check covers every fact after the
// checkpoint, so a fact missed before a restart is found too.
//
// The views bucket is Unsynced on a single node (broker/rights): the server
// acknowledges a view before it is on disk and syncs the bucket every
// rights.UnsyncedWindow, so each command waits for one fsync, its event's,
// not two. A crash can then take the bucket's newest writes, views and
// checkpoint alike, while the stream and the consumer keep the facts
// acknowledged. Two things make the projection whole again:
//   - the checkpoint saved is the floor as it was CheckpointLag ago (three
//     sync windows), never a floor whose views may not yet be on disk, so
//     the check from the checkpoint covers every fact a crash could take;
//   - when the store may have lost views (the record is on another server
//     than before, or the broker marks the store as started again in the
//     running server, as after the disk ran out), the record takes the
//     checkpoint as stored then, forgets what it applied since and the
//     views it kept, and checks every fact from there again.

// CheckpointKey is the key of the projection's checkpoint in the views
// bucket; it is not an episode id (an episode id has no dot).
const CheckpointKey = "projection.applied-through"

// DefaultCatchUpEvery is how often the record checks it has missed nothing.
const DefaultCatchUpEvery = 5 * time.Second

// DefaultCheckpointLag is how old a floor is before it is saved as the
// checkpoint: by then the server has synced the views of every fact up to
// it (it syncs the bucket every rights.UnsyncedWindow).
const DefaultCheckpointLag = 3 * rights.UnsyncedWindow

// catchUpRun is how many stream sequences a check reads at once.
const catchUpRun = 4096

// progress is which stream sequences the projection has applied.
type progress struct {
	mu      sync.Mutex
	floor   uint64              // every fact up to floor is in the projection
	applied map[uint64]struct{} // facts after floor applied
}

func newProgress(floor uint64) *progress {
	return &progress{floor: floor, applied: map[uint64]struct{}{}}
}

// add notes that the fact at seq is in the projection.
func (p *progress) add(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq <= p.floor {
		return
	}
	p.applied[seq] = struct{}{}
	for {
		if _, ok := p.applied[p.floor+1]; !ok {
			return
		}
		delete(p.applied, p.floor+1)
		p.floor++
	}
}

// reset forgets every fact applied after floor.
func (p *progress) reset(floor uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.floor = floor
	clear(p.applied)
}

func (p *progress) has(seq uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.applied[seq]
	return ok || seq <= p.floor
}

func (p *progress) through() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.floor
}

// loadCheckpoint reads the projection's checkpoint (0 when it has none).
func (s *Store) loadCheckpoint(ctx context.Context) (uint64, error) {
	ent, err := s.views.Get(ctx, CheckpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the projection's checkpoint: %w", err)
	}
	seq, err := strconv.ParseUint(string(ent.Value()), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the projection's checkpoint %q: %w", ent.Value(), err)
	}
	return seq, nil
}

// storeStarted reads the broker's mark of the store's last start ("" when
// there is none).
func (s *Store) storeStarted(ctx context.Context) (string, error) {
	ent, err := s.views.Get(ctx, rights.StoreStartedKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the store's start mark: %w", err)
	}
	return string(ent.Value()), nil
}

func (s *Store) saveCheckpoint(ctx context.Context, seq uint64) error {
	if _, err := s.views.Put(ctx, CheckpointKey, []byte(strconv.FormatUint(seq, 10))); err != nil {
		return fmt.Errorf("write the projection's checkpoint: %w", err)
	}
	return nil
}

// ensure makes sure the projection holds e, read from the stream, and says
// whether it lacked it. A fact on an episode's timeline that the view lacks
// is restored by rebuilding the view from the stream, so the view folds
// every fact in stream order; other facts (disclosures) are applied, which
// is idempotent.
func (s *Store) ensure(ctx context.Context, bus *natsbus.Bus, e events.Event) (restored bool, err error) {
	if !episode.OnTimeline(e) {
		return false, s.Apply(ctx, e)
	}
	v, _, ok, err := s.Get(ctx, e.Subject)
	if err != nil {
		return false, err
	}
	if ok && v.Has(e.ID) {
		return false, nil
	}
	return true, s.restore(ctx, bus, e.Subject)
}

// restore replaces an episode's view with the one its timeline in the
// stream gives (Load), and indexes its person.
func (s *Store) restore(ctx context.Context, bus *natsbus.Bus, id string) error {
	var loaded episode.View
	err := s.update(ctx, s.views, id, func([]byte) ([]byte, error) {
		v, _, err := Load(ctx, bus, id)
		if err != nil {
			return nil, err
		}
		loaded = v
		return json.Marshal(v)
	})
	if err != nil {
		return err
	}
	return s.indexPerson(ctx, id, loaded.Person, loaded.OpenedAt)
}

// catchUp checks every fact between the projection's checkpoint and its
// consumer's acknowledgement floor that this record did not apply, restores
// what the projection lacks, and moves the checkpoint on.
func (r *Record) catchUp(ctx context.Context) error {
	bus := r.cfg.Bus
	if err := r.checkServer(ctx); err != nil {
		return err
	}
	cons, err := bus.JetStream().Consumer(ctx, natsbus.Stream, Durable)
	if err != nil {
		return fmt.Errorf("the projection's consumer: %w", err)
	}
	upTo := cons.CachedInfo().AckFloor.Stream
	from := r.progress.through()
	var checked, restored int
	// In runs of at most catchUpRun sequences, so a check after a long
	// outage (or a rebuild) holds one run in memory, not the stream.
	for lo := from + 1; lo <= upTo; lo += catchUpRun {
		hi := min(upTo, lo+catchUpRun-1)
		// The sequences the run must leave for a later check: an unusable
		// message the record could not yet note.
		var retry []uint64
		// Read with batched direct gets: the check makes no consumer.
		_, err = bus.ReadRange(ctx, lo, hi, func(e events.Event, seq uint64) error {
			if r.progress.has(seq) {
				return nil
			}
			checked++
			lacked, err := r.store.ensure(ctx, bus, e)
			if r.outgrown(e, seq, err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("fact at sequence %d: %w", seq, err)
			}
			r.places.apply(e)
			if lacked {
				restored++
				r.cfg.Log.Warn("the record had missed a fact; rebuilt the episode's view from the stream",
					append(tracing.EventFields(e), zap.String("episode", e.Subject), zap.String("event_id", e.ID), zap.String("type", e.Type), zap.Uint64("stream_seq", seq))...)
			}
			return nil
		}, func(u events.Unreadable) {
			if r.store.MarkUnreadable(ctx, u) != nil {
				retry = append(retry, u.Seq)
			}
		})
		if err != nil {
			if checked > 0 {
				r.cfg.Log.Info("checked the record against the stream", zap.Uint64("from_seq", from+1), zap.Uint64("to_seq", upTo),
					zap.Int("facts_checked", checked), zap.Int("facts_restored", restored))
			}
			return fmt.Errorf("catch up from the stream: %w", err)
		}
		// Every sequence of the run is now in the projection, or holds
		// nothing: a message erased by a repair, or deleted, is never
		// delivered nor read, and must not hold the floor back for ever.
		for seq := lo; seq <= hi; seq++ {
			if !slices.Contains(retry, seq) {
				r.progress.add(seq)
			}
		}
	}
	if checked > 0 {
		r.cfg.Log.Info("checked the record against the stream", zap.Uint64("from_seq", from+1), zap.Uint64("to_seq", upTo),
			zap.Int("facts_checked", checked), zap.Int("facts_restored", restored))
	}
	if through := r.checkpointDue(time.Now(), r.progress.through()); through != r.saved {
		if err := r.store.saveCheckpoint(ctx, through); err != nil {
			return err
		}
		r.saved = through
	}
	return nil
}

// floorAt is the projection's floor as it was at a moment.
type floorAt struct {
	at    time.Time
	floor uint64
}

// checkpointDue notes the floor as it is now and returns the newest floor
// at least CheckpointLag old (the checkpoint as saved when none is).
func (r *Record) checkpointDue(now time.Time, floor uint64) uint64 {
	r.floors = append(r.floors, floorAt{now, floor})
	due := r.saved
	for len(r.floors) > 0 && now.Sub(r.floors[0].at) >= r.cfg.CheckpointLag {
		due = r.floors[0].floor
		r.floors = r.floors[1:]
	}
	return max(due, r.saved)
}

// checkServer notices when the store may have lost views it acknowledged:
// the record is connected to another server than at the last check (the
// server restarted, or another node took over), or the store started again
// in the running server (the broker's mark, rights.StoreStartedKey,
// changed). It then checks again every fact since the checkpoint as the
// store now holds it (see above).
func (r *Record) checkServer(ctx context.Context) error {
	id := r.cfg.Bus.Conn().ConnectedServerId()
	if id == "" {
		return nil
	}
	mark, err := r.store.storeStarted(ctx)
	if err != nil {
		return err
	}
	now := id + " " + mark
	if now == r.server {
		return nil
	}
	if r.server == "" {
		r.server = now
		return nil
	}
	checkpoint, err := r.store.loadCheckpoint(ctx)
	if err != nil {
		return err
	}
	// The worklists' watcher follows the bucket by sequence, and a bucket
	// that lost its newest writes numbers the next ones as those were: it
	// reads every view again, and follows from there.
	// (Until it has, worklists are read from the views themselves.)
	r.stopWorklists()
	r.stopWorklists = func() {}
	stop, err := r.store.watchWorklists(context.WithoutCancel(ctx))
	if err != nil {
		return err // tried again at the next check
	}
	r.stopWorklists = stop
	r.store.forgetKept()
	r.progress.reset(checkpoint)
	r.saved, r.floors, r.server = checkpoint, nil, now
	r.cfg.Log.Info("the store started again, or this is another server: checking every fact since the projection's checkpoint against the views",
		zap.Uint64("checkpoint", checkpoint))
	return nil
}

// keepCaughtUp runs catchUp now and every interval until ctx is done.
func (r *Record) keepCaughtUp(ctx context.Context, every time.Duration) {
	defer close(r.caughtUpDone)
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		if err := r.catchUp(ctx); err != nil && ctx.Err() == nil {
			if !failing || !natsbus.StoreUnavailable(err) {
				r.cfg.Log.Warn("could not yet check the record against the stream; will try again",
					zap.String("cause", logsafe.Cause(err)), zap.Bool("store_unavailable", natsbus.StoreUnavailable(err)), zap.Duration("retry_in", every))
			}
			failing = true
		} else {
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// outgrown reports, and tells the operator, that applying e failed because
// its episode's view no longer fits in one message of the bus: no retry
// will ever store it, and it must hold up no other episode, so the fact
// counts as handled. Views and commands of the episode are refused in
// words (rpc), telling its people to go on in a new, linked episode.
func (r *Record) outgrown(e events.Event, seq uint64, err error) bool {
	if !natsbus.TooLarge(err) {
		return false
	}
	r.cfg.Log.Error("an episode's view is larger than the bus carries in one message: the record keeps it as it was before this fact; "+
		"its views and commands are refused, and its people are told to go on in a new, linked episode",
		zap.String("episode", e.Subject), zap.String("event_id", e.ID), zap.String("type", e.Type), zap.Uint64("stream_seq", seq))
	return true
}
