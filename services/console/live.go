package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// liveEvent tells open pages that something changed; pages fetch their own
// (agency-filtered) view again, so no record content travels over the stream.
// Each person is told only of episodes their agency has a part in (the
// record's rule, episode.View.HasPart) or that they gave a reason to open.
type liveEvent struct {
	Episode string `json:"episode"`
	Type    string `json:"type"`
}

// parties remembers which agencies have a part in which episodes: learnt
// from each event as it is stored (episode.Parties) and from what the
// record has just shown an agency without asking for a reason. It starts
// empty; an episode it does not know is not announced to anyone, until a
// page of it is opened or its next event names the agency.
type parties struct {
	mu sync.Mutex
	m  map[string]map[events.Agency]bool
}

// maxParties bounds the episodes remembered; past it the memory starts
// again (open pages learn theirs back when they next load).
const maxParties = 200_000

func newParties() *parties { return &parties{m: map[string]map[events.Agency]bool{}} }

func (p *parties) add(episode string, as ...events.Agency) {
	if episode == "" || len(as) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	set, ok := p.m[episode]
	if !ok {
		if len(p.m) >= maxParties {
			p.m = map[string]map[events.Agency]bool{}
		}
		set = map[events.Agency]bool{}
		p.m[episode] = set
	}
	for _, a := range as {
		set[a] = true
	}
}

// learn adds the agencies a stored event makes party to its episode.
func (p *parties) learn(episodeID string, raw []byte) {
	var e events.Event
	if json.Unmarshal(raw, &e) != nil || e.Subject != episodeID {
		return
	}
	p.add(episodeID, episode.Parties(e)...)
}

func (p *parties) has(episode string, a events.Agency) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[episode][a]
}

// hub fans events out to every open page's stream that may see them.
type hub struct {
	mu     sync.Mutex
	subs   map[chan liveEvent]func(liveEvent) bool
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan liveEvent]func(liveEvent) bool{}} }

func (h *hub) subscribe(may func(liveEvent) bool) (chan liveEvent, func()) {
	ch := make(chan liveEvent, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = may
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub) publish(e liveEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch, may := range h.subs {
		if !may(e) {
			continue
		}
		select {
		case ch <- e:
		default: // a slow page misses a nudge; the next one refreshes it all the same
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
		delete(h.subs, ch)
	}
}

// liveStream is the Server-Sent Events endpoint open pages listen on.
func (c *Server) liveStream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	s, _ := sessionFrom(r.Context())
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	ch, cancel := c.live.subscribe(func(e liveEvent) bool {
		return c.parties.has(e.Episode, s.Agency) || s.Reasons[e.Episode] != ""
	})
	defer cancel()
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "event: changed\ndata: %s\n\n", b)
			fl.Flush()
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		}
	}
}
