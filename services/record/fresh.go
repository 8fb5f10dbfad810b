package record

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/fifo"
)

// Every command and every view reads its episode fresh from the stream
// (Load): the projection follows the stream a moment behind, and a
// decision or a view must not. Read whole each time, an episode of 50
// facts is 50 messages the server finds, frames and sends, and the record
// parses and folds, at every command on it. So the record keeps the
// episodes it read lately (freshCap of them), each with the stream
// sequence it was read up to, and asks the stream only for what is stored
// from that sequence on: usually the one message already read, and the
// few stored since. That message must be the one read before (its
// sequence and event id), or the episode is read whole again: a stream
// restored or replaced under the record is never mistaken for the one it
// read. What each agency may see of the episode is cut once per change.
//
// A stored message never changes, so a view folded from what was read
// and then from what follows is the view folded from everything: Load's,
// exactly.

// freshCap bounds how many episodes the record keeps read: the episodes
// being worked on at once (a few dozen in a county at night), with room.
// At about 30 KB an episode of 50 facts, 512 of them is about 15 MB.
const freshCap = 512

// freshEpisodes is the record's episodes read lately, the oldest read
// first out when it is full.
type freshEpisodes struct {
	byID *fifo.Map[string, *freshEpisode]
}

func newFreshEpisodes() freshEpisodes {
	return freshEpisodes{fifo.New[string, *freshEpisode](freshCap)}
}

// freshEpisode is one episode as read up to seq. Its lock is held while
// it is read further and while an agency's cut is made.
type freshEpisode struct {
	mu     sync.Mutex
	v      episode.View
	seq    uint64 // the stream sequence read up to (0: nothing read yet)
	lastID string // the event id at seq ("" if that message was not a usable event)
	cuts   map[events.Agency]agencyCut
}

// agencyCut is what an agency may see of the episode at its sequence.
type agencyCut struct {
	raw    json.RawMessage
	fields []string
}

// errNotAsRead ends a read that did not start at the message read before.
var errNotAsRead = errors.New("the stream does not hold the message read before")

// read brings the episode up to what the stream holds now and calls use
// with it and the sequence of its last stored message (0: none) while the
// entry is held. The view passed to use must not be kept after it returns.
func (f *freshEpisodes) read(ctx context.Context, bus *natsbus.Bus, id string, use func(e *freshEpisode) error) error {
	if err := events.CheckID("episode", id); err != nil {
		return err
	}
	e := f.byID.GetOrAdd(id, func() *freshEpisode { return &freshEpisode{} })
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seq > 0 {
		err := e.readOn(ctx, bus, id)
		if errors.Is(err, errNotAsRead) {
			e.forget() // read it whole again
		} else if err != nil {
			e.forget() // a read cut short leaves nothing half-applied
			return err
		}
	}
	if e.seq == 0 {
		if err := e.readWhole(ctx, bus, id); err != nil {
			e.forget()
			return err
		}
	}
	return use(e)
}

// forget drops what was read of the episode (its lock is held).
func (e *freshEpisode) forget() {
	e.v, e.seq, e.lastID, e.cuts = episode.View{}, 0, "", nil
}

// readWhole folds every stored event of the episode.
func (e *freshEpisode) readWhole(ctx context.Context, bus *natsbus.Bus, id string) error {
	e.v = episode.New(id)
	_, err := bus.Replay(ctx, events.EpisodeSubjects(id), e.apply, e.unreadable)
	return err
}

// readOn folds what is stored from the sequence read up to, which must
// still hold the message read there.
func (e *freshEpisode) readOn(ctx context.Context, bus *natsbus.Bus, id string) error {
	anchor, anchorID, anchored := e.seq, e.lastID, false
	_, err := bus.ReplayFrom(ctx, events.EpisodeSubjects(id), anchor, func(ev events.Event, seq uint64) error {
		if !anchored {
			if seq != anchor || ev.ID != anchorID {
				return errNotAsRead
			}
			anchored = true
			return nil
		}
		return e.apply(ev, seq)
	}, func(u events.Unreadable) {
		if !anchored {
			if u.Seq != anchor || anchorID != "" {
				return // refused below: nothing read where the anchor was
			}
			anchored = true
			return
		}
		e.unreadable(u)
	})
	if err == nil && !anchored {
		return errNotAsRead
	}
	return err
}

func (e *freshEpisode) apply(ev events.Event, seq uint64) error {
	changed, err := e.v.Apply(ev)
	if err != nil {
		return err
	}
	e.seq, e.lastID = seq, ev.ID
	if changed {
		e.cuts = nil
	}
	return nil
}

func (e *freshEpisode) unreadable(u events.Unreadable) {
	e.v.MarkUnreadable(u)
	e.seq, e.lastID, e.cuts = u.Seq, "", nil
}

// cut is what agency a may see of the episode as read (episode.ForAgencyJSON),
// made once per change.
func (e *freshEpisode) cut(a events.Agency) (json.RawMessage, []string, error) {
	if c, ok := e.cuts[a]; ok {
		return c.raw, c.fields, nil
	}
	raw, fields, err := episode.ForAgencyJSON(e.v, a)
	if err != nil {
		return nil, nil, err
	}
	if e.cuts == nil {
		e.cuts = map[events.Agency]agencyCut{}
	}
	e.cuts[a] = agencyCut{raw: raw, fields: fields}
	return raw, fields, nil
}
