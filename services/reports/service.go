package reports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crisisbus/crisisbus/events/natsbus"

	"go.uber.org/zap"
)

// splitFrom is the stream length from which Rebuild reads ranges side by
// side.
var splitFrom uint64 = 100_000

// Rebuild replays the stream into a new projection and returns it once every
// event stored when it began has been applied (ReadAll).
func Rebuild(ctx context.Context, bus *natsbus.Bus) (*Projection, error) {
	state, err := streamNow(ctx, bus)
	if err != nil {
		return nil, fmt.Errorf("rebuild reports: %w", err)
	}
	return rebuild(ctx, bus, state)
}

func rebuild(ctx context.Context, bus *natsbus.Bus, state streamState) (*Projection, error) {
	p := newProjection(int(min(state.last-min(state.first, state.last), 10_000_000)))
	last, err := readAll(ctx, bus, state.first, state.last, func(s natsbus.Stored) { p.apply1(s, false) })
	if err != nil {
		return nil, fmt.Errorf("rebuild reports: %w", err)
	}
	p.mu.Lock()
	p.last = max(p.last, last)
	p.mu.Unlock()
	return p, nil
}

// ReadAll calls f with every event stored when it began and, on a long
// stream, reads disjoint ranges side by side, two per core (measured
// fastest with crisisbus reportbench), each from its own ordered consumer,
// deleted when its range is read: f is then called from several
// goroutines at once, in stream order within a range only (the counts do
// not depend on the order events are applied in). It returns how many
// events it read. (Direct gets by sequence, which need no consumer, cost
// the server three to four times the CPU an event: 22.5 against 6.3 µs.)
func ReadAll(ctx context.Context, bus *natsbus.Bus, f func(natsbus.Stored)) (int, error) {
	st, err := bus.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		return 0, err
	}
	var n atomic.Int64
	_, err = readAll(ctx, bus, st.CachedInfo().State.FirstSeq, st.CachedInfo().State.LastSeq, func(s natsbus.Stored) { n.Add(1); f(s) })
	return int(n.Load()), err
}

// readAll is ReadAll over the stream sequences first to last; it returns
// last (0 when the stream is empty).
func readAll(ctx context.Context, bus *natsbus.Bus, first, last uint64, f func(natsbus.Stored)) (uint64, error) {
	if last == 0 || first > last {
		return 0, nil
	}
	var err error
	parts := uint64(1)
	if last-first >= splitFrom {
		parts = uint64(max(2*runtime.GOMAXPROCS(0), 1))
	}
	size := (last - first + parts) / parts
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, parts)
	n := 0
	for from := first; from <= last; from += size {
		n++
		go func() {
			err := bus.ReplayRaw(ctx, natsbus.ReplayConfig{From: from, To: min(from+size-1, last)}, func(s natsbus.Stored) error {
				f(s)
				return nil
			})
			if err != nil {
				cancel() // the other ranges stop too
			}
			errs <- err
		}()
	}
	for range n {
		if e := <-errs; e != nil && (err == nil || errors.Is(err, context.Canceled)) {
			err = e
		}
	}
	return last, err
}

// Snapshot cadence of the report page's Service: it saves its projection
// once SnapshotEvery stream sequences have been applied since the last
// save, or, when anything at all has been, every SnapshotInterval, and
// once more when it stops.
var (
	SnapshotEvery    uint64 = 100_000
	SnapshotInterval        = 5 * time.Minute
)

// snapshotCheck is how often the Service looks whether to save.
const snapshotCheck = 10 * time.Second

// Service keeps a projection up to date with the stream for the report
// page, and keeps it as snapshots for `crisisbus report`: it starts from
// the newest usable snapshot (or, if there is none, the first event) and
// then applies each new event as it is stored, saving a snapshot every
// SnapshotEvery events or SnapshotInterval (see Snapshots). Without the
// snapshot bucket it keeps the projection in memory only.
type Service struct {
	proj   *Projection
	bus    *natsbus.Bus
	log    *zap.Logger
	snaps  *Snapshots
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once the snapshot (if any) is loaded

	saveMu  sync.Mutex
	stream  streamState // the stream as it was when the projection began
	saved   uint64      // the sequence the last snapshot saved held through
	savedAt time.Time
}

// Start starts following the stream.
func Start(ctx context.Context, bus *natsbus.Bus, log *zap.Logger) *Service {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Service{proj: NewProjection(), bus: bus, log: log, cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.begin(ctx)
		close(s.ready)
		saving := make(chan struct{})
		go func() {
			defer close(saving)
			s.keepSaving(ctx)
		}()
		for ctx.Err() == nil {
			err := bus.ReplayRaw(ctx, natsbus.ReplayConfig{Follow: true, From: s.proj.Last() + 1}, func(st natsbus.Stored) error {
				s.proj.Apply(st)
				return nil
			})
			if err != nil && !errors.Is(err, context.Canceled) {
				// Resuming reads on from the last event applied.
				log.Warn("report replay stopped; resuming", zap.Error(err))
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
		<-saving
		// The events applied since the last save are kept for the next start.
		sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer stop()
		if err := s.saveIfNew(sctx, 1); err != nil {
			log.Warn("reports snapshot not saved on stopping", zap.Error(err))
		}
	}()
	return s
}

// begin opens the snapshot bucket and starts from its newest usable
// snapshot.
func (s *Service) begin(ctx context.Context) {
	state, err := streamNow(ctx, s.bus)
	if err != nil {
		s.log.Warn("reports: the event stream could not be read; replaying from its first event without snapshots", zap.Error(err))
		return
	}
	s.stream = state
	snaps, err := OpenSnapshots(ctx, s.bus.JetStream())
	if err != nil {
		s.log.Warn("reports: no snapshot bucket; the projection is kept in memory only", zap.Error(err))
		return
	}
	s.snaps = snaps
	l, why := snaps.newest(ctx, state)
	if l == nil {
		s.log.Info("reports: replaying the stream from its first event", zap.Strings("why", why))
		return
	}
	s.proj.take(l.proj)
	s.saved, s.savedAt = l.snap.Last, time.Now()
	s.log.Info("reports: started from a snapshot", zap.Uint64("through", l.snap.Last), zap.Strings("not used", why))
}

func (s *Service) keepSaving(ctx context.Context) {
	t := time.NewTicker(snapshotCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.saveMu.Lock()
		due := s.proj.Last() >= s.saved+SnapshotEvery || time.Since(s.savedAt) >= SnapshotInterval
		s.saveMu.Unlock()
		if !due {
			continue
		}
		if err := s.saveIfNew(ctx, 1); err != nil && ctx.Err() == nil {
			s.log.Warn("reports snapshot not saved; trying again later", zap.Error(err))
		}
	}
}

// saveIfNew saves a snapshot when atLeast sequences were applied
// since the last one.
func (s *Service) saveIfNew(ctx context.Context, atLeast uint64) error {
	<-s.ready
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.snaps == nil || s.proj.Last() < s.saved+atLeast {
		return nil
	}
	saved, err := s.snaps.save(ctx, s.proj, s.stream.created, s.stream.first)
	if err != nil {
		return err
	}
	s.saved, s.savedAt = saved.Through, time.Now()
	s.log.Debug("reports snapshot saved", zap.Uint64("through", saved.Through), zap.Int("bytes", saved.Bytes))
	return nil
}

// SaveSnapshot saves the projection as it is now, if it has applied any
// event since the last snapshot, and returns the stream sequence the
// newest snapshot holds through.
func (s *Service) SaveSnapshot(ctx context.Context) (uint64, error) {
	if err := s.saveIfNew(ctx, 1); err != nil {
		return 0, err
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.snaps == nil {
		return 0, errors.New("reports: no snapshot bucket to save to")
	}
	return s.saved, nil
}

// Projection is the live projection.
func (s *Service) Projection() *Projection { return s.proj }

// Handler is the report page over the live projection; now gives its
// default range (the twelve months to the current one).
func (s *Service) Handler(now func() time.Time) http.Handler { return NewHandler(s.proj, now) }

// Stop stops following the stream, saving a last snapshot.
func (s *Service) Stop() {
	s.cancel()
	<-s.done
}
