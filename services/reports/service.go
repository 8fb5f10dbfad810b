package reports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/crisisbus/crisisbus/events/natsbus"

	"go.uber.org/zap"
)

// splitFrom is the stream length from which Rebuild reads ranges side by
// side (two per core measured fastest with crisisbus reportbench).
var splitFrom uint64 = 100_000

// Rebuild replays the stream into a new projection and returns it once every
// event stored when it began has been applied. A long stream is read as
// disjoint ranges side by side: the server serves each range
// from its own consumer and the events are decoded in parallel (the counts
// do not depend on the order events are applied in).
func Rebuild(ctx context.Context, bus *natsbus.Bus) (*Projection, error) {
	p := NewProjection()
	st, err := bus.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		return nil, fmt.Errorf("rebuild reports: %w", err)
	}
	first, last := st.CachedInfo().State.FirstSeq, st.CachedInfo().State.LastSeq
	if last == 0 {
		return p, nil
	}
	parts := uint64(1)
	if last-first >= splitFrom {
		parts = uint64(max(2*runtime.GOMAXPROCS(0), 1))
	}
	size := (last - first + parts) / parts
	errs := make(chan error, parts)
	for from := first; from <= last; from += size {
		go func() {
			errs <- bus.ReplayRaw(ctx, natsbus.ReplayConfig{From: from, To: min(from+size-1, last)}, func(s natsbus.Stored) error {
				p.apply1(s, false)
				return nil
			})
		}()
	}
	for from := first; from <= last; from += size {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return nil, fmt.Errorf("rebuild reports: %w", err)
	}
	return p, nil
}

// Service keeps a projection up to date with the stream for the report
// page: it replays from the first event at start and then applies each new
// event as it is stored. It holds no durable state, so a restart rebuilds.
type Service struct {
	proj   *Projection
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts following the stream.
func Start(ctx context.Context, bus *natsbus.Bus, log *zap.Logger) *Service {
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Service{proj: NewProjection(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for ctx.Err() == nil {
			err := bus.ReplayRaw(ctx, natsbus.ReplayConfig{Follow: true}, func(st natsbus.Stored) error {
				s.proj.Apply(st)
				return nil
			})
			if err != nil && !errors.Is(err, context.Canceled) {
				// Resuming replays from the start; Apply skips what it has seen.
				log.Warn("report replay stopped; resuming", zap.Error(err))
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	return s
}

// Projection is the live projection.
func (s *Service) Projection() *Projection { return s.proj }

// Handler is the report page over the live projection; now gives its
// default range (the twelve months to the current one).
func (s *Service) Handler(now func() time.Time) http.Handler { return NewHandler(s.proj, now) }

// Stop stops following the stream.
func (s *Service) Stop() {
	s.cancel()
	<-s.done
}
