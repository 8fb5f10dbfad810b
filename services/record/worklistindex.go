package record

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/fifo"
)

// worklists holds each agency's work items, kept by a watcher on the views
// bucket, so a worklist reads only what waits for that agency and never
// every episode the record has held (a scan grew with the stream: 13.7 ms
// at 1,000 events, 107.5 ms at 10,000). Each instance of the record keeps
// its own, from every view written by any instance. Until the watcher has
// read every stored view, a worklist scans as before.
type worklists struct {
	mu     sync.RWMutex
	ready  bool
	byAgcy map[events.Agency]map[string]WorkItem // agency → episode → item
	// handedOn is each agency's "handed on" list, kept the same way.
	handedOn map[events.Agency]map[string]WorkItem
	// written are the views this store is writing, with their items, so
	// that the watcher files its own writes without decoding them again.
	written *fifo.Map[string, listing]
}

// listing is what one view puts on the lists: for each agency, its item on
// the worklist or on the "handed on" list (none once closed).
type listing struct {
	raw          []byte // the view as written
	work, handed map[events.Agency]WorkItem
}

// listingOf files view v under each agency it waits for or was handed on by.
func listingOf(v *episode.View) listing {
	l := listing{work: map[events.Agency]WorkItem{}, handed: map[events.Agency]WorkItem{}}
	if v.Closed {
		return l
	}
	for _, a := range events.Agencies {
		if item, ok := workItem(*v, a); ok {
			l.work[a] = item
		} else if item, ok := handedOnItem(*v, a); ok {
			l.handed[a] = item
		}
	}
	return l
}

// writing tells the watcher that the view of ep is about to be written as
// raw: when it comes back the same, its items are these.
func (x *worklists) writing(ep string, raw []byte, v *episode.View) {
	l := listingOf(v)
	l.raw = raw
	x.written.Put(ep, l)
}

// keptWritten bounds the writes remembered for the watcher, which reads
// each a moment after it is made.
const keptWritten = 64

// watchWorklists starts keeping the worklists; stop ends it.
func (s *Store) watchWorklists(ctx context.Context) (stop func(), err error) {
	w, err := s.views.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch the episode views for the worklists: %w", err)
	}
	idx := &worklists{byAgcy: map[events.Agency]map[string]WorkItem{}, handedOn: map[events.Agency]map[string]WorkItem{},
		written: fifo.New[string, listing](keptWritten)}
	for _, a := range events.Agencies {
		idx.byAgcy[a] = map[string]WorkItem{}
		idx.handedOn[a] = map[string]WorkItem{}
	}
	s.worklists.Store(idx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e == nil { // every stored view has been read
				idx.mu.Lock()
				idx.ready = true
				idx.mu.Unlock()
				continue
			}
			idx.update(e)
		}
	}()
	return func() {
		_ = w.Stop()
		<-done
		s.worklists.Store(nil)
	}, nil
}

// update files one view (or its deletion) under each agency it waits for.
func (x *worklists) update(e jetstream.KeyValueEntry) {
	ep := e.Key()
	if !validKey(ep) {
		return // not an episode: the checkpoint, the store's start mark
	}
	var l listing // deleted, or unreadable: waits for nobody
	if e.Operation() == jetstream.KeyValuePut {
		if w, ok := x.written.Get(ep); ok && bytes.Equal(w.raw, e.Value()) {
			l = w
		} else if v := (episode.View{}); json.Unmarshal(e.Value(), &v) == nil {
			l = listingOf(&v)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, a := range events.Agencies {
		delete(x.byAgcy[a], ep)
		delete(x.handedOn[a], ep)
		if item, ok := l.work[a]; ok {
			x.byAgcy[a][ep] = item
		} else if item, ok := l.handed[a]; ok {
			x.handedOn[a][ep] = item
		}
	}
}

// items returns agency a's work items, and whether the index is ready.
func (x *worklists) items(a events.Agency) ([]WorkItem, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.ready {
		return nil, false
	}
	out := make([]WorkItem, 0, len(x.byAgcy[a]))
	for _, it := range x.byAgcy[a] {
		out = append(out, it)
	}
	return out, true
}

// handed returns agency a's "handed on" list, and whether the index is ready.
func (x *worklists) handed(a events.Agency) ([]WorkItem, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.ready {
		return nil, false
	}
	out := make([]WorkItem, 0, len(x.handedOn[a]))
	for _, it := range x.handedOn[a] {
		out = append(out, it)
	}
	return out, true
}
