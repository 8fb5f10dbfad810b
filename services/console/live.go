package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// liveEvent tells open pages that something changed; pages fetch their own
// (agency-filtered) view again, so no record content travels over the stream.
type liveEvent struct {
	Episode string `json:"episode"`
	Type    string `json:"type"`
}

// hub fans events out to every open page's stream.
type hub struct {
	mu     sync.Mutex
	subs   map[chan liveEvent]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan liveEvent]struct{}{}} }

func (h *hub) subscribe() (chan liveEvent, func()) {
	ch := make(chan liveEvent, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
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
	for ch := range h.subs {
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
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	ch, cancel := c.live.subscribe()
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
