package natsbus

import (
	"bytes"
	"sync"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/fifo"
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
	once  sync.Once
	bySeq *fifo.Map[uint64, parsedEntry]
}

type parsedEntry struct {
	subject string
	raw     []byte
	event   events.Event
}

func (c *parsedCache) parse(s Stored) (events.Event, error) {
	c.once.Do(func() { c.bySeq = fifo.New[uint64, parsedEntry](parsedCacheSize) })
	if en, ok := c.bySeq.Get(s.Seq); ok && en.subject == s.Subject && bytes.Equal(en.raw, s.Raw) {
		return en.event, nil
	}
	e, err := parseStored(s.Subject, s.Raw)
	if err != nil {
		return e, err // an unusable message is set aside once; not cached
	}
	c.bySeq.Put(s.Seq, parsedEntry{subject: s.Subject, raw: bytes.Clone(s.Raw), event: e})
	return e, nil
}
