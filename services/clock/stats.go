package clock

import (
	"slices"
	"sync"
	"time"
)

// lateness records how late each breach was published after its due time,
// by the service's clock, for the benchmark's figures.
type lateness struct {
	mu sync.Mutex
	d  []time.Duration
}

func newLateness() *lateness { return &lateness{} }

func (l *lateness) add(d time.Duration) {
	l.mu.Lock()
	if len(l.d) < 1<<20 {
		l.d = append(l.d, d)
	}
	l.mu.Unlock()
}

// Lateness summarises how late breaches were published.
type Lateness struct {
	Count         int
	P50, P99, Max time.Duration
}

// Lateness returns the figures of the breaches this instance published.
func (s *Service) Lateness() Lateness {
	s.stats.mu.Lock()
	d := slices.Clone(s.stats.d)
	s.stats.mu.Unlock()
	if len(d) == 0 {
		return Lateness{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return Lateness{Count: len(d), P50: at(0.50), P99: at(0.99), Max: d[len(d)-1]}
}

// Fired is how many warnings and breaches this instance has published.
func (s *Service) Fired() int64 { return s.fired.Load() }
