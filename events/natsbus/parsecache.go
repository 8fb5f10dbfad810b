package natsbus

import (
	"bytes"
	"sync"

	"github.com/crisisbus/crisisbus/events"
)

// parsedCacheSize bounds how many parsed events a bus keeps: an active
// episode's facts are read again at every command and view, and checking an
// event against the contract costs about twice decoding it (10 to 20 µs;
// it was a hundred times before the quick path), which a 50-fact episode
// read at every command need not pay again. The cache is bounded, so it
// never grows with the stream (about 16 MB at 1 KB an event).
const parsedCacheSize = 16384

// parsedCache remembers events parsed from stored messages by stream
// sequence. A stored message never changes, and an entry is used only when
// its subject and bytes are those read, so a hit gives exactly what parsing
// would. Eviction is first in, first out.
type parsedCache struct {
	mu    sync.Mutex
	bySeq map[uint64]parsedEntry
	order []uint64 // ring of the sequences held, oldest at next
	next  int
}

type parsedEntry struct {
	subject string
	raw     []byte
	event   events.Event
}

func (c *parsedCache) parse(s Stored) (events.Event, error) {
	c.mu.Lock()
	if en, ok := c.bySeq[s.Seq]; ok && en.subject == s.Subject && bytes.Equal(en.raw, s.Raw) {
		c.mu.Unlock()
		return en.event, nil
	}
	c.mu.Unlock()
	e, err := parseStored(s.Subject, s.Raw)
	if err != nil {
		return e, err // an unusable message is set aside once; not cached
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bySeq == nil {
		c.bySeq = make(map[uint64]parsedEntry, parsedCacheSize)
		c.order = make([]uint64, 0, parsedCacheSize)
	}
	if _, ok := c.bySeq[s.Seq]; !ok {
		if len(c.order) < parsedCacheSize {
			c.order = append(c.order, s.Seq)
		} else {
			delete(c.bySeq, c.order[c.next])
			c.order[c.next] = s.Seq
			c.next = (c.next + 1) % parsedCacheSize
		}
	}
	c.bySeq[s.Seq] = parsedEntry{subject: s.Subject, raw: bytes.Clone(s.Raw), event: e}
	return e, nil
}
