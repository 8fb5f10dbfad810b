package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// snapshotSlots are the two objects of the snapshot bucket: each save
// replaces the older, so the bucket holds at most two snapshots (the
// newest, and the one before in case the newest cannot be read), whatever
// the stream's length.
var snapshotSlots = []string{"projection-a", "projection-b"}

// Snapshots is the bucket of the report projection's snapshots
// (rights.ReportsBucket, an object store on the server's encrypted disk):
// the report page's Service writes it, the admin's `crisisbus report`
// reads it.
type Snapshots struct{ obs jetstream.ObjectStore }

// OpenSnapshots opens the provisioned snapshot bucket.
func OpenSnapshots(ctx context.Context, js jetstream.JetStream) (*Snapshots, error) {
	obs, err := js.ObjectStore(ctx, rights.ReportsBucket)
	if err != nil {
		return nil, fmt.Errorf("reports snapshot bucket %s (provisioned by the admin user: `crisisbus up`, or `crisisbus serve` with the admin's credentials): %w", rights.ReportsBucket, err)
	}
	return &Snapshots{obs: obs}, nil
}

// slot is one object of the bucket as its metadata describes it.
type slot struct {
	name    string
	last    uint64 // 0: empty or unreadable metadata
	version string
	saved   time.Time
}

func (s *Snapshots) slots(ctx context.Context) ([]slot, error) {
	var out []slot
	for _, name := range snapshotSlots {
		sl := slot{name: name}
		info, err := s.obs.GetInfo(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrObjectNotFound):
		case err != nil:
			return nil, fmt.Errorf("reports snapshot %s: %w", name, err)
		default:
			sl.last, _ = strconv.ParseUint(info.Metadata["last"], 10, 64)
			sl.version, sl.saved = info.Metadata["version"], info.ModTime
		}
		out = append(out, sl)
	}
	return out, nil
}

// Saved is a snapshot saved: the stream sequence it holds through and its
// size.
type Saved struct {
	Through uint64
	Bytes   int
}

// SaveRebuilt saves p, which counts the stream from its first event as it
// is now (built by Rebuild or Build), as a snapshot.
func (s *Snapshots) SaveRebuilt(ctx context.Context, bus *natsbus.Bus, p *Projection) (Saved, error) {
	state, err := streamNow(ctx, bus)
	if err != nil {
		return Saved{}, fmt.Errorf("save reports snapshot: %w", err)
	}
	return s.save(ctx, p, state.created, state.first)
}

// save writes p's state as a snapshot of the stream created at created,
// counted from sequence first, over the older of the two slots.
func (s *Snapshots) save(ctx context.Context, p *Projection, created time.Time, first uint64) (Saved, error) {
	raw, last, err := p.encodeSnapshot(created, first)
	if err != nil {
		return Saved{}, err
	}
	slots, err := s.slots(ctx)
	if err != nil {
		return Saved{}, err
	}
	// The slot to replace: one of another version, or the older.
	target := slices.MinFunc(slots, func(a, b slot) int {
		ka, kb := a.last, b.last
		if a.version != Version {
			ka = 0
		}
		if b.version != Version {
			kb = 0
		}
		return cmpUint(ka, kb)
	})
	_, err = s.obs.Put(ctx, jetstream.ObjectMeta{Name: target.name,
		Description: "crisisbus reports projection through stream sequence " + strconv.FormatUint(last, 10),
		Metadata:    map[string]string{"last": strconv.FormatUint(last, 10), "version": Version}}, bytes.NewReader(raw))
	if err != nil {
		return Saved{}, fmt.Errorf("save reports snapshot through sequence %d: %w", last, err)
	}
	return Saved{Through: last, Bytes: len(raw)}, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// loaded is a snapshot read back and checked against the stream.
type loaded struct {
	proj  *Projection
	snap  *snapshot
	saved time.Time
}

// newest reads the newest snapshot that reads back whole, is of this
// version and matches the stream as it is now; why each other one was
// not used is in the returned reasons.
func (s *Snapshots) newest(ctx context.Context, state streamState) (*loaded, []string) {
	slots, err := s.slots(ctx)
	if err != nil {
		return nil, []string{err.Error()}
	}
	slices.SortFunc(slots, func(a, b slot) int { return cmpUint(b.last, a.last) })
	var why []string
	for _, sl := range slots {
		if sl.last == 0 && sl.version == "" {
			continue // never written
		}
		if sl.version != Version {
			why = append(why, fmt.Sprintf("snapshot %s was %v", sl.name, errOtherVersion))
			continue
		}
		raw, err := s.obs.GetBytes(ctx, sl.name)
		if err != nil {
			why = append(why, fmt.Sprintf("snapshot %s could not be read: %v", sl.name, err))
			continue
		}
		p, snap, err := decodeSnapshot(raw)
		if err == nil {
			err = state.matches(snap)
		}
		if err != nil {
			why = append(why, fmt.Sprintf("snapshot %s (through sequence %d) not used: %v", sl.name, sl.last, err))
			continue
		}
		return &loaded{proj: p, snap: snap, saved: sl.saved}, why
	}
	if len(why) == 0 {
		why = append(why, "no snapshot saved yet")
	}
	return nil, why
}

// streamState is what a snapshot is checked against.
type streamState struct {
	created     time.Time
	first, last uint64
}

func streamNow(ctx context.Context, bus *natsbus.Bus) (streamState, error) {
	st, err := bus.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		return streamState{}, err
	}
	info := st.CachedInfo()
	first := info.State.FirstSeq
	if info.State.Msgs == 0 {
		// Empty (new, or purged): the next event stored is its first
		// (a new stream says 0 until then).
		first = info.State.LastSeq + 1
	}
	return streamState{created: info.Created, first: first, last: info.State.LastSeq}, nil
}

func (st streamState) matches(s *snapshot) error {
	switch {
	case !s.StreamCreated.Equal(st.created):
		return fmt.Errorf("it counts a stream created %s, not this one (created %s)", s.StreamCreated.UTC().Format(time.RFC3339), st.created.UTC().Format(time.RFC3339))
	case s.FirstSeq != st.first:
		return fmt.Errorf("it counts the stream from sequence %d, which now begins at %d", s.FirstSeq, st.first)
	case s.Last > st.last:
		return fmt.Errorf("it holds through sequence %d, past the stream's last (%d)", s.Last, st.last)
	}
	return nil
}

// Source says how a projection was built.
type Source struct {
	// Through is the stream sequence the snapshot held through (0: the
	// whole stream was read), and Saved when it was saved.
	Through uint64
	Saved   time.Time
	// Read is how many stream sequences were read after it (all of them
	// in a full rebuild).
	Read uint64
	// Rebuilt is set when no snapshot was used.
	Rebuilt bool
	// NotUsed says why each snapshot not used was not.
	NotUsed []string
}

// String is the source in a sentence.
func (s Source) String() string {
	var out string
	if s.Rebuilt {
		out = fmt.Sprintf("rebuilt from all %d stored event(s), no snapshot used", s.Read)
	} else {
		out = fmt.Sprintf("from the snapshot through stream sequence %d (saved %s) and the %d event(s) stored after it",
			s.Through, s.Saved.UTC().Format(time.RFC3339), s.Read)
	}
	if len(s.NotUsed) > 0 {
		out += ": " + strings.Join(s.NotUsed, "; ")
	}
	return out
}

// Build returns the projection of every event stored when it began: the
// newest usable snapshot in snaps and the events stored after it, or,
// when there is none (snaps nil, nothing saved, another version, damaged,
// of another stream), the whole stream replayed (Rebuild), saying why.
func Build(ctx context.Context, bus *natsbus.Bus, snaps *Snapshots) (*Projection, Source, error) {
	state, err := streamNow(ctx, bus)
	if err != nil {
		return nil, Source{}, fmt.Errorf("build reports: %w", err)
	}
	why := []string{"no snapshot bucket"}
	if snaps != nil {
		var l *loaded
		if l, why = snaps.newest(ctx, state); l != nil {
			p, from := l.proj, l.snap.Last
			last, err := readAll(ctx, bus, from+1, state.last, func(s natsbus.Stored) { p.apply1(s, false) })
			if err != nil {
				return nil, Source{}, fmt.Errorf("build reports after the snapshot through sequence %d: %w", from, err)
			}
			src := Source{Through: from, Saved: l.saved, NotUsed: why}
			if last > 0 {
				src.Read = last - from
				p.mu.Lock()
				p.last = max(p.last, last)
				p.mu.Unlock()
			}
			return p, src, nil
		}
	}
	p, err := rebuild(ctx, bus, state)
	if err != nil {
		return nil, Source{}, err
	}
	var n uint64
	if state.last >= state.first {
		n = state.last - state.first + 1
	}
	return p, Source{Read: n, Rebuilt: true, NotUsed: why}, nil
}
