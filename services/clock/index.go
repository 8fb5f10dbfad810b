package clock

import (
	"container/heap"
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

// len is how many live clocks the index holds.
func (x *index) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.h)
}
