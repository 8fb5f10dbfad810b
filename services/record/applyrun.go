package record

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/internal/ops"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
)

// A record far behind the stream (started after an import, or rebuilding
// from an empty projection) folds runs of events at once: applied one at a
// time, each event costs a read and an fsynced write of its episode's view,
// a few hundred events a second, so a year's stream took an hour to
// rebuild. A run reads each episode's value once, folds every event of it
// in the run in memory, in stream order, and writes it once.

// RunFrom is how many events the record's consumer must have still to
// deliver before the record folds a run rather than the one event: a record
// keeping up with live traffic applies each fact as it comes.
const RunFrom = 64

// RunPause is how long the record applies events one at a time after a run
// failed (the server too slow to answer, say), so a failing run is not tried
// again at every event.
const RunPause = 30 * time.Second

// RunMax bounds the events one run folds (and holds in memory).
const RunMax = 8192

// runFor says whether the record folds a run rather than the event at seq
// alone, and which: when its consumer has RunFrom events or more still to
// deliver. A run starts at the first fact this record has not applied, not
// at the one delivered: after a restart the consumer delivers the facts it
// had delivered before only after AckWait, behind the ones that follow, and
// a view must fold its facts in stream order. A record keeping up (fewer
// pending) applies each fact as it comes, so two instances of the record
// sharing the consumer do not read each other's facts again.
func (r *Record) runFor(seq, pending uint64) (from, to uint64, run bool) {
	if pending < RunFrom {
		return 0, 0, false
	}
	floor := r.progress.through()
	from = min(floor+1, seq)
	if seq-from >= RunMax {
		from = seq // far behind a fact the record could not apply (catchUp sees to it)
	}
	return from, min(from+RunMax-1, seq+pending), true
}

// applyRun folds the events stored from stream sequence from up to to that
// the record has not applied, in one run (Store.ApplyRun), and notes them
// applied: the consumer then acknowledges each as it delivers it, without
// applying it again. The checkpoint is saved later (catchUp), from what is
// applied, so a record stopped mid-run reads and folds again what it had
// not acknowledged, changing nothing twice.
func (r *Record) applyRun(ctx context.Context, from, to uint64) error {
	var run []events.Event
	var seqs []uint64
	if _, err := r.cfg.Bus.ReadRange(ctx, from, to, func(e events.Event, seq uint64) error {
		if !r.progress.has(seq) {
			run, seqs = append(run, e), append(seqs, seq)
		}
		return nil
	}, func(u events.Unreadable) {
		if r.store.MarkUnreadable(ctx, u) == nil {
			r.progress.add(u.Seq)
		}
	}); err != nil {
		return fmt.Errorf("read the events from sequence %d to %d: %w", from, to, err)
	}
	if err := r.store.ApplyRun(ctx, run); err != nil {
		return fmt.Errorf("fold the events from sequence %d to %d: %w", from, to, err)
	}
	for _, seq := range seqs {
		r.progress.add(seq)
	}
	for _, e := range run {
		r.places.apply(e)
		ops.RecordApplied(ctx, e, r.store.Get)
	}
	return nil
}

// runWriters is how many values a run writes at a time: the server still
// fsyncs each write, but the round trips overlap.
const runWriters = 8

// ApplyRun folds a run of events, in stream order, into the store, as Apply
// does each: every episode's view and disclosure summary touched by the run
// is read once, folded in memory and written once, on the revision read (a
// conflict with another writer reads again and folds again; folding is
// idempotent by event id, so an event applied already changes nothing). It
// returns nil only once every value is written.
func (s *Store) ApplyRun(ctx context.Context, run []events.Event) error {
	type value struct {
		kv  jetstream.KeyValue
		key string
		evs []events.Event
	}
	var values []*value
	byKey := map[string]*value{}
	for _, e := range run {
		kv, name := s.views, "v."
		switch {
		case e.Type == typeDisclosed:
			kv, name = s.disclosures, "d."
		case !episode.OnTimeline(e):
			continue // not about an episode (a place's update): no view
		}
		x := byKey[name+e.Subject]
		if x == nil {
			x = &value{kv: kv, key: e.Subject}
			byKey[name+e.Subject] = x
			values = append(values, x)
		}
		x.evs = append(x.evs, e)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan *value)
	)
	for range min(runWriters, len(values)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := range next {
				var err error
				if x.kv == s.disclosures {
					err = s.discloseRun(ctx, x.key, x.evs)
				} else {
					err = s.applyEpisodeRun(ctx, x.key, x.evs)
				}
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, x := range values {
		next <- x
	}
	close(next)
	wg.Wait()
	return firstErr
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// applyEpisodeRun folds evs, the run's events of one episode, into its view
// with one write, and indexes each person they identify.
func (s *Store) applyEpisodeRun(ctx context.Context, id string, evs []events.Event) error {
	var persons []episode.Person
	var opened time.Time
	err := s.updateView(ctx, id, func(v *episode.View, isNew bool) (bool, error) {
		persons = persons[:0]
		defer func() { opened = v.OpenedAt }()
		if isNew {
			persons = append(persons, v.Person) // a new episode: its reference is indexed
		}
		changed := false
		for _, e := range evs {
			c, err := v.Apply(e)
			if err != nil {
				return false, err
			}
			if c && e.Type == episode.TypeOf(&events.PersonIdentified{}) {
				persons = append(persons, v.Person)
			}
			changed = changed || c
		}
		return changed, nil
	})
	if err != nil {
		return err
	}
	for _, p := range persons {
		if err := s.indexPerson(ctx, id, p, opened); err != nil {
			return err
		}
	}
	return nil
}

// discloseRun folds the run's disclosures of one episode into its summary
// with one write.
func (s *Store) discloseRun(ctx context.Context, id string, evs []events.Event) error {
	ds := make([]events.RecordDisclosed, len(evs))
	for i, e := range evs {
		if err := e.DecodeInto(&ds[i]); err != nil {
			return err
		}
	}
	return s.update(ctx, s.disclosures, id, func(raw []byte) ([]byte, error) {
		sum, err := decodeDisclosures(raw)
		if err != nil {
			return nil, err
		}
		changed := len(raw) > 0 && raw[0] == '[' // an earlier version's list, replaced by a summary
		for i, e := range evs {
			changed = sum.fold(e.ID, e.Time, ds[i]) || changed
		}
		if !changed {
			return nil, nil
		}
		return json.Marshal(sum)
	})
}
