package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
)

// pathway is the part of crisisbus a handoff crosses, on the cluster: the
// episode record (which every command reads the episode's state from), the
// police service offering, and the SPoA service whose inbox acknowledges.
type pathway struct {
	c      *cluster
	record *system.System
	spoa   *system.System // nil while SPoA is offline
	police *agency.Kit
	admin  *natsbus.Bus
}

func startPathway(t testing.TB, c *cluster) *pathway {
	t.Helper()
	p := &pathway{c: c, admin: c.bus("", nil)}
	p.record = p.startServices(t, "episode-record")
	p.startSPoA(t)
	p.police = &agency.Kit{Bus: c.bus(events.Police, nil), Log: bustest.Logger()}
	return p
}

// startServices starts crisisbus's own services, each connected as itself
// to all three nodes, as `crisisbus serve` does against a cluster.
func (p *pathway) startServices(t testing.TB, names ...string) *system.System {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var sys *system.System
	bustest.CheckFor(t, 60*time.Second, 500*time.Millisecond, func() error {
		var err error
		// Services live until the test ends (their context is not ctx, which bounds the start).
		sys, err = system.Start(context.WithoutCancel(ctx), system.Config{
			NATSURL: p.c.layout.URLs(), Credentials: p.c.creds, Replicas: 3,
			NATSOptions: []nats.Option{nats.RootCAs(p.c.layout.CA())}, Only: names, Log: bustest.Logger()})
		return err
	})
	t.Cleanup(sys.Close)
	return sys
}

func (p *pathway) startSPoA(t testing.TB) { p.spoa = p.startServices(t, string(events.SPoA)) }

func (p *pathway) stopSPoA() {
	p.spoa.Close()
	p.spoa = nil
}

// run is a run of handoffs: police opens an episode and offers it to SPoA,
// each fact with an id derived from the run's name, so a police client
// that retries after a failure (the node it wrote to died before
// answering) never stores a fact twice.
type run struct {
	name string
	mu   sync.Mutex
	// acked are the times the server acknowledged each offer as stored.
	acked []time.Time
	// offered maps each handoff offered (and acknowledged as stored) to its episode.
	offered map[string]string
	retries atomic.Int64
}

func newRun(name string) *run { return &run{name: name, offered: map[string]string{}} }

func (r *run) episodeID(i int) string {
	return record.DeterministicID(fmt.Sprintf("%s/episode/%d", r.name, i))
}
func (r *run) handoffID(i int) string {
	return record.DeterministicID(fmt.Sprintf("%s/handoff/%d", r.name, i))
}

// retry calls f until it succeeds or ctx ends, each try bounded, as a
// client of a cluster whose node may just have died.
func (r *run) retry(ctx context.Context, f func(ctx context.Context) error) error {
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(tctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
		r.retries.Add(1)
		time.Sleep(50 * time.Millisecond)
	}
}

// offer opens episode i and offers it to SPoA, as the police control
// room's service does (Kit.Do: decide on the episode's fresh state, publish
// only if nothing changed meanwhile).
func (p *pathway) offer(ctx context.Context, r *run, i int) error {
	ep, hid := r.episodeID(i), r.handoffID(i)
	err := r.retry(ctx, func(ctx context.Context) error {
		_, err := p.police.Do(ctx, ep, "PC 4471", func(v *episode.View) ([]agency.Out, error) {
			if v.Opened {
				return nil, nil
			}
			return []agency.Out{agency.Fact(&events.EpisodeOpened{Channel: "999", Summary: "man on the Medway bridge, distressed"},
				events.WithID(record.DeterministicID("open/"+ep)))}, nil
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("open episode %d: %w", i, err)
	}
	err = r.retry(ctx, func(ctx context.Context) error {
		_, err := p.police.Do(ctx, ep, "PC 4471", func(v *episode.View) ([]agency.Out, error) {
			if v.Handoff(hid) != nil {
				return nil, nil // stored by a try whose answer was lost
			}
			outs, err := p.police.OfferOut(v, hid, events.SPoAReferral, events.SPoA, "known to services, needs triage", "urgent")
			if err != nil {
				return nil, err
			}
			outs[0].Opts = append(outs[0].Opts, events.WithID(record.DeterministicID("offer/"+hid)))
			return outs, nil
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("offer handoff %d: %w", i, err)
	}
	r.mu.Lock()
	r.acked = append(r.acked, time.Now())
	r.offered[hid] = ep
	r.mu.Unlock()
	return nil
}

// offerMany offers handoffs from..to-1 with workers police clients side by
// side; each is called once the i-th offer is stored (for faults timed on
// progress).
func (p *pathway) offerMany(ctx context.Context, r *run, from, to, workers int, each func(done int)) error {
	next := atomic.Int64{}
	next.Store(int64(from))
	var done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				if err := p.offer(ctx, r, i); err != nil {
					errs[w] = err
					return
				}
				if each != nil {
					each(int(done.Add(1)))
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// pause is the longest time between two offers stored one after the
// other, and when it began.
func (r *run) pause() (time.Duration, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ts := slices.Clone(r.acked)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var longest time.Duration
	var began time.Time
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > longest {
			longest, began = d, ts[i-1]
		}
	}
	return longest, began
}

// waitInboxDrained waits until SPoA's inbox consumer has handled every
// offer delivered to it and the stream holds an acknowledgement of every
// handoff of run r (after a restart of every node the consumer's state can
// read as drained a moment before its last offers are delivered), and
// returns how long that took.
func (p *pathway) waitInboxDrained(t testing.TB, r *run, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	bustest.CheckFor(t, within, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cons, err := p.admin.JetStream().Consumer(ctx, natsbus.Stream, rights.InboxDurable(events.SPoA))
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending+uint64(info.NumAckPending) > 0 {
			return fmt.Errorf("SPoA's inbox has %d offers waiting and %d being handled", info.NumPending, info.NumAckPending)
		}
		if n, of := countAcked(p.count(t), r), r.offers(); n < of {
			return fmt.Errorf("SPoA's inbox is drained but the stream holds %d acknowledgements of the %d handoffs offered", n, of)
		}
		return nil
	})
	return time.Since(start)
}

// tally is what the event stream holds, counted.
type tally struct {
	events   int
	ids      map[string]int // event id → times stored
	opened   map[string]int // episode → EpisodeOpened stored
	offers   map[string]int // handoff → HandoffOffered stored
	acks     map[string]int // handoff → HandoffAcknowledged stored
	breaches map[string]int // "episode/clock/repeat" → ClockBreached stored
	warnings map[string]int // "episode/clock" → ClockWarning stored
}

// count reads the whole event stream (as the episode record rebuilds its
// views) and counts what it holds.
func (p *pathway) count(t testing.TB) tally {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tl := tally{ids: map[string]int{}, opened: map[string]int{}, offers: map[string]int{}, acks: map[string]int{},
		breaches: map[string]int{}, warnings: map[string]int{}}
	var err error
	for range 20 {
		clear(tl.ids)
		tl.events = 0
		for _, m := range []map[string]int{tl.opened, tl.offers, tl.acks, tl.breaches, tl.warnings} {
			clear(m)
		}
		_, err = p.admin.Replay(ctx, events.AllSubjects(), func(e events.Event, _ uint64) error {
			tl.events++
			tl.ids[e.ID]++
			d, err := e.Decode()
			if err != nil {
				return err
			}
			switch d := d.(type) {
			case *events.EpisodeOpened:
				tl.opened[e.Subject]++
			case *events.HandoffOffered:
				tl.offers[d.HandoffID]++
			case *events.HandoffAcknowledged:
				tl.acks[d.HandoffID]++
			case *events.ClockBreached:
				tl.breaches[fmt.Sprintf("%s/%s/%d", e.Subject, d.Clock, d.Repeat)]++
			case *events.ClockWarning:
				tl.warnings[fmt.Sprintf("%s/%s", e.Subject, d.Clock)]++
			}
			return nil
		}, func(u events.Unreadable) {
			t.Errorf("the stream holds an unreadable message at %d: %s", u.Seq, u.Reason)
		})
		if err == nil {
			return tl
		}
		time.Sleep(500 * time.Millisecond) // a node just failed: read again
	}
	t.Fatalf("read the event stream: %v", err)
	return tl
}

// check fails the test for every offer stored but missing, stored twice,
// not acknowledged by SPoA, or acknowledged twice, and for any event stored
// twice; it returns how many handoffs of the run it found whole, and how
// many events the stream holds more than once.
func (tl tally) check(t testing.TB, r *run) (whole, dup int) {
	t.Helper()
	for id, n := range tl.ids {
		if n > 1 {
			t.Errorf("event %s is stored %d times", id, n)
			dup++
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for hid, ep := range r.offered {
		switch {
		case tl.opened[ep] != 1:
			t.Errorf("episode %s: opened %d times, want once", ep, tl.opened[ep])
		case tl.offers[hid] != 1:
			t.Errorf("handoff %s: the server acknowledged the offer as stored; the stream holds it %d times", hid, tl.offers[hid])
		case tl.acks[hid] != 1:
			t.Errorf("handoff %s: SPoA's inbox acknowledged it %d times, want once", hid, tl.acks[hid])
		default:
			whole++
		}
	}
	return whole, dup
}

// jsFor is the admin's JetStream on the cluster.
func (p *pathway) jsFor() jetstream.JetStream { return p.admin.JetStream() }
