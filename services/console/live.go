package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// liveEvent tells open pages that something changed; pages fetch their own
// (agency-filtered) view again, so no record content travels over the stream.
// The event's id goes with it: the page of that episode reads itself
// "after" it (the record's read-your-writes), so a page is never refreshed
// from a projection that has not applied the change yet. Only stored
// events are announced (Server.follow), so the record will hold it.
// Each person is told only of episodes their agency has a part in (the
// record's rule, episode.View.HasPart) or that they gave a reason to open.
type liveEvent struct {
	Episode string    `json:"episode"`
	Type    string    `json:"type"`
	ID      string    `json:"id,omitempty"` // the event's id (a UUID)
	Seq     uint64    `json:"-"`            // the hub's count of events, sent as the stream's event id
	At      time.Time `json:"-"`            // when the console heard of it
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
func (p *parties) learn(e events.Event) {
	p.add(e.Subject, episode.Parties(e)...)
}

func (p *parties) has(episode string, a events.Agency) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[episode][a]
}

// hub fans events out to every open page's stream that may see them. It
// numbers them, and keeps the last recentMax, so that a page opened from
// the console (which carries the number it was rendered at, a liveMark)
// is sent on connecting whatever changed since it was rendered: an
// action's result that arrives within milliseconds, before the redirected
// page has opened its stream, is not lost.
type hub struct {
	mu     sync.Mutex
	subs   map[chan liveEvent]func(liveEvent) bool
	held   map[string]int // open streams by session id, at most maxStreams each
	closed bool
	boot   string      // this console's run: a mark of another run is stale
	seq    uint64      // events published so far
	recent []liveEvent // the last recentMax, oldest first
}

// recentMax bounds the events kept for pages that connect late: a page
// rendered longer ago than this many events refreshes itself once.
const recentMax = 4096

// lagMax is how far behind the stream the record's projection is taken to
// be at most, for markFor.
const lagMax = 3 * time.Second

func newHub() *hub {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &hub{subs: map[chan liveEvent]func(liveEvent) bool{}, held: map[string]int{}, boot: hex.EncodeToString(b)}
}

// maxStreams bounds the live streams one session holds at once: a person
// with this many pages of the console open. Each is held by the console
// and reads the session again every liveRecheck; a script opening
// streams by the thousand would wear the console and the bus down for
// everyone.
const maxStreams = 16

// hold counts one more open stream of session id; false when it holds
// maxStreams already. let gives it back.
func (h *hub) hold(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held[id] >= maxStreams {
		return false
	}
	h.held[id]++
	return true
}

func (h *hub) let(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held[id]--; h.held[id] <= 0 {
		delete(h.held, id)
	}
}

// liveMark is where a page stands in the hub's events: "boot.seq".
type liveMark struct {
	boot string
	seq  uint64
}

func (m liveMark) String() string { return m.boot + "." + strconv.FormatUint(m.seq, 10) }

// parseMark reads a mark; ok is false for anything that is not one.
func parseMark(s string) (liveMark, bool) {
	boot, n, found := strings.Cut(s, ".")
	if !found || boot == "" || len(boot) > 32 {
		return liveMark{}, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return liveMark{}, false
	}
	return liveMark{boot, seq}, true
}

// mark is the hub's position now: taken before a page reads the record,
// so anything published while it is being rendered is sent again.
func (h *hub) mark() liveMark {
	h.mu.Lock()
	defer h.mu.Unlock()
	return liveMark{h.boot, h.seq}
}

// markFor moves a page's mark back before any event of the episode that
// the hub had announced by then but the view it was rendered from does
// not hold yet (the record applies an event a moment after it is stored).
// Only the last lagMax of events count: one the record has not applied by
// then is one it could not read (put aside as a dead letter), which no
// view will ever hold.
func (h *hub) markFor(m liveMark, episode string, holds func(eventID string) bool, now time.Time) liveMark {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.recent {
		if e.Seq > m.seq {
			break
		}
		if e.Episode == episode && e.ID != "" && now.Sub(e.At) < lagMax && !holds(e.ID) {
			m.seq = e.Seq - 1
			break
		}
	}
	return m
}

// subscribe opens a page's stream. since is the page's mark ("" for
// none); backlog is what was published after it that the page may see,
// or one bare "changed" when the hub no longer has all of it (another
// run of the console, or more than recentMax events ago).
func (h *hub) subscribe(may func(liveEvent) bool, since string) (ch chan liveEvent, backlog []liveEvent, cancel func()) {
	ch = make(chan liveEvent, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, nil, func() {}
	}
	if since != "" {
		m, ok := parseMark(since)
		switch {
		case !ok || m.boot != h.boot || m.seq > h.seq:
			backlog = []liveEvent{{Seq: h.seq}}
		case m.seq < h.seq && (len(h.recent) == 0 || h.recent[0].Seq > m.seq+1):
			backlog = []liveEvent{{Seq: h.seq}}
		default:
			for _, e := range h.recent {
				if e.Seq > m.seq && may(e) {
					backlog = append(backlog, e)
				}
			}
		}
	}
	h.subs[ch] = may
	return ch, backlog, func() {
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
	h.seq++
	e.Seq = h.seq
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if len(h.recent) == recentMax {
		h.recent = append(h.recent[:0], h.recent[1:]...)
	}
	h.recent = append(h.recent, e)
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

type markKey struct{}

// marked keeps the hub's mark at the start of each request, before the
// page reads anything, for render to put on the page.
func (c *Server) marked(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), markKey{}, c.live.mark())))
	})
}

func markFrom(ctx context.Context) (liveMark, bool) {
	m, ok := ctx.Value(markKey{}).(liveMark)
	return m, ok
}

// livePing is how often an open page's stream is checked and kept open
// while nothing changes; liveWrite bounds each write to it.
const (
	livePing  = 20 * time.Second
	liveWrite = 10 * time.Second
	// liveRecheck is how long a stream trusts the session it last read
	// (one ended by another console, or idle past its limit, is found
	// within it).
	liveRecheck = 2 * time.Second
)

// liveStream is the Server-Sent Events endpoint open pages listen on. It
// lasts only as long as the session that opened it: the session is read
// again before each change is sent and at each ping, and once it has ended
// (signed out, idle or past its absolute limit, the person disabled) the
// stream says "signedout" and ends. Each write has liveWrite to go out: a
// page that stops reading is let go, not kept as long as its connection.
func (c *Server) liveStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	s, _ := sessionFrom(r.Context())
	id := sessionIDFrom(r.Context())
	if !c.live.hold(id) {
		c.log.Warn("live updates refused: too many streams for one session", zap.String("user", s.Username), zap.Int("streams", maxStreams))
		http.Error(w, fmt.Sprintf("This session already has %d pages of the console receiving live updates. Close one, and this page connects again by itself.", maxStreams),
			http.StatusTooManyRequests)
		return
	}
	defer c.live.let(id)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	// Where the page stands: the mark it was rendered at, or on the
	// browser's reconnecting, the last event it was sent.
	since := r.Header.Get("Last-Event-ID")
	if since == "" {
		since = r.URL.Query().Get("since")
	}
	ch, backlog, cancel := c.live.subscribe(func(e liveEvent) bool {
		return c.parties.has(e.Episode, s.Agency) || s.Reasons[e.Episode] != ""
	}, since)
	defer cancel()
	send := func(text string) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(liveWrite)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := io.WriteString(w, text); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The session as the bucket holds it is read at most once every
	// liveRecheck, however many changes are sent: a busy night's changes
	// times every open page would otherwise be as many reads. A session
	// this console ended is known at once.
	var checked time.Time
	signedIn := func() bool {
		if !c.sessions.endedHere(id) && (time.Since(checked) < liveRecheck || c.stillSignedIn(r.Context(), id)) {
			if time.Since(checked) >= liveRecheck {
				checked = time.Now()
			}
			return true
		}
		send("event: signedout\ndata: {}\n\n")
		return false
	}
	var first strings.Builder
	first.WriteString("retry: 2000\n\n")
	for _, e := range backlog {
		first.WriteString(c.liveText(e))
	}
	if !send(first.String()) {
		return
	}
	ping := time.NewTicker(c.cfg.livePing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-ch:
			if !ok || !signedIn() || !send(c.liveText(e)) {
				return
			}
		case <-ping.C:
			if !signedIn() || !send(": ping\n\n") {
				return
			}
		}
	}
}

// liveText is one event of the stream, with the hub's mark as its id (the
// browser sends it back as Last-Event-ID when it reconnects).
func (c *Server) liveText(e liveEvent) string {
	b, _ := json.Marshal(e)
	return fmt.Sprintf("id: %s\nevent: changed\ndata: %s\n\n", liveMark{c.live.boot, e.Seq}, b)
}
