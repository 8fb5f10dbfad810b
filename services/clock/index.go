package clock

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// index is the scanner's in-memory hint of when each clock is next due: a
// min-heap of (key, time) with a map for updates. It is rebuilt from the KV
// bucket at start, so it holds nothing that is not also on disk. About 100
// bytes a clock.
type index struct {
	mu sync.Mutex
	m  map[string]*slot
	h  slots
}

type slot struct {
	key string
	at  int64 // unix nanoseconds
	i   int
}

type slots []*slot

func (s slots) Len() int           { return len(s) }
func (s slots) Less(i, j int) bool { return s[i].at < s[j].at }
func (s slots) Swap(i, j int)      { s[i], s[j] = s[j], s[i]; s[i].i = i; s[j].i = j }
func (s *slots) Push(x any)        { e := x.(*slot); e.i = len(*s); *s = append(*s, e) }
func (s *slots) Pop() any {
	old := *s
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	return e
}

func newIndex() *index { return &index{m: map[string]*slot{}} }

// set records when key is next due, or removes it when ok is false.
func (x *index) set(key string, at time.Time, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e, has := x.m[key]
	switch {
	case !ok && has:
		heap.Remove(&x.h, e.i)
		delete(x.m, key)
	case !ok:
	case has:
		e.at = at.UnixNano()
		heap.Fix(&x.h, e.i)
	default:
		e = &slot{key: key, at: at.UnixNano()}
		heap.Push(&x.h, e)
		x.m[key] = e
	}
}

// popDue removes and returns up to max keys due at or before now.
func (x *index) popDue(now time.Time, max int) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var due []string
	n := now.UnixNano()
	for len(x.h) > 0 && x.h[0].at <= n && len(due) < max {
		e := heap.Pop(&x.h).(*slot)
		delete(x.m, e.key)
		due = append(due, e.key)
	}
	return due
}

// reset empties the index (the bucket it hinted at is gone).
func (x *index) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.m, x.h = map[string]*slot{}, nil
}

// len is how many live clocks the index holds.
func (x *index) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.h)
}

// keys is every stored clock's key (running or stopped), by episode, kept
// by the clock's watcher of its bucket and by its own writes: an episode's
// clocks are found without listing the bucket, which made a consumer on it
// at every call (each s136 release, closing, follow-up completed). The keys
// of 20,000 episodes take a few MB.
type keys struct {
	mu        sync.Mutex
	byEpisode map[string]map[string]struct{}
	seen      uint64        // the bucket's last revision the watcher has applied
	moved     chan struct{} // closed when seen moves on
}

func newKeys() *keys {
	return &keys{byEpisode: map[string]map[string]struct{}{}, moved: make(chan struct{})}
}

// episodeOf is the episode a clock's key belongs to (its first token).
func episodeOf(key string) string {
	ep, _, _ := strings.Cut(key, ".")
	return ep
}

// add notes that key is stored; drop, that it was deleted.
func (k *keys) add(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ep := episodeOf(key)
	if k.byEpisode[ep] == nil {
		k.byEpisode[ep] = map[string]struct{}{}
	}
	k.byEpisode[ep][key] = struct{}{}
}

func (k *keys) drop(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ep := episodeOf(key)
	delete(k.byEpisode[ep], key)
	if len(k.byEpisode[ep]) == 0 {
		delete(k.byEpisode, ep)
	}
}

// reset forgets every key and revision (the bucket is gone; one made
// again starts from revision 1).
func (k *keys) reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.byEpisode, k.seen = map[string]map[string]struct{}{}, 0
}

// count is how many keys are stored.
func (k *keys) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, ks := range k.byEpisode {
		n += len(ks)
	}
	return n
}

// saw notes that the watcher has applied the bucket up to revision rev.
func (k *keys) saw(rev uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if rev > k.seen {
		k.seen = rev
		close(k.moved)
		k.moved = make(chan struct{})
	}
}

// waitSeen waits until the watcher has applied the bucket up to rev.
func (k *keys) waitSeen(ctx context.Context, rev uint64) error {
	for {
		k.mu.Lock()
		seen, moved := k.seen, k.moved
		k.mu.Unlock()
		if seen >= rev {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("the clock's watcher has read its bucket to revision %d of %d: %w", seen, rev, ctx.Err())
		}
	}
}

// matching returns, sorted, the stored keys of episode that match filter, a
// subject filter on keys ("ep.>", "ep.followup.*").
func (k *keys) matching(episode, filter string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for key := range k.byEpisode[episode] {
		if keyMatches(filter, key) {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}

// keyMatches matches a key against a subject filter: "*" one token, ">"
// one or more to the end.
func keyMatches(filter, key string) bool {
	f, k := strings.Split(filter, "."), strings.Split(key, ".")
	for i, t := range f {
		if t == ">" {
			return len(k) > i
		}
		if i >= len(k) || (t != "*" && t != k[i]) {
			return false
		}
	}
	return len(f) == len(k)
}
