package events

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// Events found valid lately. The contract's verdict on an event depends on
// its bytes alone (no clock, no state), so bytes found valid once are
// valid again, and read as the same event. So a process keeps the events
// it found valid, by their very bytes (a hash finds the entry; the bytes,
// compared whole, decide), and Parse and Encode check in full only bytes
// it does not hold:
//   - one crisisbus process (the embedded default runs every service in
//     one) checks each fact at its publish and again at every consumer
//     (the record, the clock, the reports, the agencies' inboxes);
//   - a command reads its episode's facts again at every command, and a
//     view at every view.
//
// A consumer in another process than the publisher checks in full, as it
// must: nothing on the stream is trusted.
//
// Only valid events are kept, each in a copy of its own bytes, so what is
// kept never changes under it; at most checkedEvents of them and
// checkedBytes of bytes in all, the oldest going first, so the cache
// never grows with the stream.
const (
	checkedEvents = 16384
	checkedBytes  = 32 << 20
)

var checked = newCheckedCache(checkedEvents, checkedBytes)

type checkedCache struct {
	seed           maphash.Seed
	maxN, maxBytes int

	mu    sync.Mutex
	index map[uint64]int // the bytes' hash → the entry's place in ring
	ring  []checkedEvent // made at the first put; the oldest at head
	head  int
	n     int
	bytes int
}

type checkedEvent struct {
	hash uint64
	raw  []byte // the cache's own copy
	e    Event  // its Data within raw
}

func newCheckedCache(maxN, maxBytes int) *checkedCache {
	return &checkedCache{seed: maphash.MakeSeed(), maxN: maxN, maxBytes: maxBytes, index: map[uint64]int{}}
}

// get returns the event raw reads as, when bytes the same as raw were found
// valid lately. A nil cache holds nothing.
func (c *checkedCache) get(raw []byte) (Event, bool) {
	if c == nil {
		return Event{}, false
	}
	h := maphash.Bytes(c.seed, raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[h]
	if !ok || !bytes.Equal(c.ring[i].raw, raw) {
		return Event{}, false
	}
	return c.ring[i].e, true
}

// put keeps raw, found valid, as reading as e. A nil cache keeps nothing.
func (c *checkedCache) put(raw []byte, e Event) {
	if c == nil || len(raw) > c.maxBytes {
		return
	}
	h := maphash.Bytes(c.seed, raw)
	own := bytes.Clone(raw)
	// e's data is the "data" member of raw, byte for byte: it is read
	// from the cache's copy, never from a buffer its caller may reuse.
	if i := bytes.LastIndex(own, e.Data); i >= 0 {
		e.Data = own[i : i+len(e.Data) : i+len(e.Data)]
	} else {
		e.Data = bytes.Clone(e.Data)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index[h]; ok {
		return // held already (or other bytes of the same hash: parsed each time)
	}
	if c.ring == nil {
		c.ring = make([]checkedEvent, c.maxN)
	}
	for c.n > 0 && (c.n == c.maxN || c.bytes+len(own) > c.maxBytes) {
		old := &c.ring[c.head]
		delete(c.index, old.hash)
		c.bytes -= len(old.raw)
		*old = checkedEvent{}
		c.head = (c.head + 1) % c.maxN
		c.n--
	}
	at := (c.head + c.n) % c.maxN
	c.ring[at] = checkedEvent{hash: h, raw: own, e: e}
	c.index[h] = at
	c.n++
	c.bytes += len(own)
}
