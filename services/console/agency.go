package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// agencyRoutes adds the pages of each agency's people.
func (c *Server) agencyRoutes(mux routeMux) {
	mux.HandleFunc("POST /new/{action}", func(w http.ResponseWriter, r *http.Request) {
		c.doAction(w, r, r.PathValue("action"), "", func(status int, p page) { c.renderHome(w, r, status, p) })
	})
	// Every episode id in an address is checked before it is used in a
	// request to the record.
	withID := func(h func(w http.ResponseWriter, r *http.Request, id string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id := r.PathValue("id")
			if !validEpisodeID(id) {
				badRequest(w, episodeIDError(id))
				return
			}
			if after := r.URL.Query().Get("after"); after != "" && !validEpisodeID(after) {
				badRequest(w, "The address's \"after\" is not an event id: it is a UUID, like 5b0f9d4e-8a51-4c4e-9d0e-2f1c3a7b6e01.")
				return
			}
			h(w, r, id)
		}
	}
	mux.HandleFunc("GET /episodes/{id}", withID(func(w http.ResponseWriter, r *http.Request, id string) {
		c.renderEpisode(w, r, id, http.StatusOK, page{})
	}))
	mux.HandleFunc("POST /episodes/{id}/reason", withID(c.giveReason))
	mux.HandleFunc("GET /episodes/{id}/places", withID(c.placesPage))
	mux.HandleFunc("GET /episodes/{id}/note", withID(func(w http.ResponseWriter, r *http.Request, id string) { c.notePage(w, r, id, page{}) }))
	mux.HandleFunc("POST /episodes/{id}/note/preview", withID(func(w http.ResponseWriter, r *http.Request, id string) { c.notePage(w, r, id, page{}) }))
	mux.HandleFunc("POST /episodes/{id}/note/given", withID(func(w http.ResponseWriter, r *http.Request, id string) {
		c.doAction(w, r, "note", id, func(status int, p page) { c.notePage(w, r, id, p) })
	}))
	mux.HandleFunc("POST /episodes/{id}/{action}", withID(func(w http.ResponseWriter, r *http.Request, id string) {
		c.doAction(w, r, r.PathValue("action"), id, func(status int, p page) { c.renderEpisode(w, r, id, status, p) })
	}))
}

// reasonData is the form that asks why a person opens an episode their
// agency has no part in.
type reasonData struct {
	Episode string
	Agency  events.Agency
	Max     int
}

// giveReason keeps the reason in the session and opens the episode with
// it: the record stores it as the purpose of the disclosure.
func (c *Server) giveReason(w http.ResponseWriter, r *http.Request, id string) {
	reason := strings.Join(strings.Fields(r.PostForm.Get("reason")), " ")
	var msg string
	switch n := utf8.RuneCountInString(reason); {
	case reason == "":
		msg = "Enter why you need to open this episode"
	case n > maxReasonLen:
		msg = fmt.Sprintf("Your reason is %d characters; it can be at most %d", n, maxReasonLen)
	}
	if msg != "" {
		s, _ := sessionFrom(r.Context())
		c.render(w, r, "reason", http.StatusUnprocessableEntity, page{Title: "Why do you need this episode?",
			Errors: []fieldError{{"reason", msg}}, Form: r.PostForm, Data: reasonData{id, s.Agency, maxReasonLen}})
		return
	}
	// The record has the reason first, with a view of the episode for it:
	// the session keeps it, and live updates follow the episode, only once
	// the record holds it.
	s, _ := sessionFrom(r.Context())
	if err := c.viewEpisode(r.Context(), s, id, reason, "", &struct{}{}); err != nil {
		if code := rpc.CodeOf(err); code == rpc.NotFound || code == rpc.BadRequest {
			http.Error(w, "There is no episode "+id+".", http.StatusNotFound)
			return
		}
		if !gone(r, err) {
			c.log.Error("give a reason: episode view", zap.String("episode", logsafe.ID(id)), zap.String("cause", logsafe.Cause(err)))
		}
		http.Error(w, "Your reason could not be given to the record just now: nothing was opened. Go back and try again.", http.StatusServiceUnavailable)
		return
	}
	_, err := c.sessions.update(r.Context(), sessionIDFrom(r.Context()), func(s *session) {
		if s.Reasons == nil {
			s.Reasons = map[string]string{}
		}
		if len(s.Reasons) >= maxReasons {
			for k := range s.Reasons { // forget one: the person is asked again for it
				delete(s.Reasons, k)
				break
			}
		}
		s.Reasons[id] = reason
	})
	if err != nil {
		c.log.Error("keep the reason", zap.String("episode", logsafe.ID(id)), zap.Error(err))
		http.Error(w, "Your reason could not be kept just now: nothing was opened. Go back and try again.", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/episodes/"+id, http.StatusSeeOther)
}

// homeData is an agency's worklist.
type homeData struct {
	Items []record.WorkItem
	Err   string
	// Places are the places the agency provides, for it to say how they
	// stand now (ourplaces.go); PlacesErr when they could not be read.
	Places    []ourPlace
	PlacesErr string
}

// home is each agency's worklist: the AMHP's assessment queue, the
// helpline's follow-up list, the control room's episodes, SPoA's and the
// EOC's inboxes.
func (c *Server) home(w http.ResponseWriter, r *http.Request) {
	c.renderHome(w, r, http.StatusOK, page{})
}

func (c *Server) renderHome(w http.ResponseWriter, r *http.Request, status int, p page) {
	s, _ := sessionFrom(r.Context())
	var d homeData
	// Each episode on the list is a disclosure to this person, recorded by the record.
	resp, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](r.Context(), c.nc, record.WorklistSubject(s.Agency), record.WorklistRequest{
		Agency: s.Agency, Viewer: s.Name + " (" + s.Username + ")",
		Purpose: "direct care: " + s.Role + " choosing what to work on from the worklist"})
	if err != nil {
		c.log.Error("worklist", zap.String("agency", string(s.Agency)), zap.String("cause", logsafe.Cause(err)))
		d.Err = "The worklist could not be loaded just now. It will load again by itself; if it does not, reload the page."
	}
	d.Items = resp.Items
	// A page refreshing itself shows its worklist alone (render), not its places.
	if !isLive(r) {
		if d.Places, err = c.ourPlaces(r, s.Agency); err != nil {
			d.PlacesErr = "Your places could not be loaded just now. Reload the page in a moment."
		}
	}
	for _, it := range d.Items {
		c.parties.add(it.Episode, s.Agency)
	}
	p.Title = worklistTitle(s.Agency)
	p.Data = d
	c.render(w, r, "home", status, p)
}

func worklistTitle(a events.Agency) string {
	if t := a.Info().Worklist; t != "" {
		return t
	}
	return "Worklist"
}

// episodeData is what the episode page shows: the agency's own view.
type episodeData struct {
	V           episode.View
	Fields      []string            // disclosed to this agency
	Disclosures []record.Disclosure // who viewed, most recent first
	// Dropped is how many earlier disclosures the record no longer
	// summarises (they are in the full audit, the stream).
	Dropped  int
	Clinical bool // the agency's view includes the clinical record
	// RecordsConsent: a health agency with a part in the episode, which
	// records whether the person lets the safe haven see their clinical
	// record (consent.go).
	RecordsConsent bool
	// HavenConsented: the person's latest word lets the safe haven see it.
	HavenConsented bool
	Mine           bool              // the agency owns the episode
	Offers         []episode.Handoff // open offers to this agency
	Outgoing       []episode.Handoff // open offers from this agency
	S136Due        time.Time
	FollowUps      []followUpCall
	// FollowUpBy makes the follow-up calls still to make (the record's
	// word, not the owner: the helpline keeps them when SPoA takes an
	// escalation on); CallsMine when that is the person's agency.
	FollowUpBy events.Agency
	CallsMine  bool
	// NextCall is the first call not yet made: the "which call" the form
	// offers first.
	NextCall int
	Agencies []events.Agency
	Matches  []record.Match // other episodes that may be the same person (owner only)
	Reason   string         // why the person opened an episode their agency has no part in
	// Places is "Where they can go now", for the agency holding the
	// episode when it chooses where people go (route.go); nil otherwise.
	Places *wherePanel
}

type followUpCall struct {
	Number int
	Due    time.Time
	Done   string // the outcome, once made
}

// CallChoices are the options of the "which call" field: each call with
// the day it is due, and one more for a call beyond the schedule.
func (d episodeData) CallChoices() []option {
	var out []option
	for _, c := range d.FollowUps {
		label := fmt.Sprintf("Call %d, due %s", c.Number, c.Due.In(london).Format("Monday 2 January"))
		if c.Done != "" {
			label += " (made: " + words(c.Done) + ")"
		}
		out = append(out, option{Value: fmt.Sprint(c.Number), Label: label})
	}
	return append(out, option{Value: fmt.Sprint(len(d.FollowUps) + 1), Label: fmt.Sprintf("Call %d, an extra call", len(d.FollowUps)+1)})
}

func (c *Server) renderEpisode(w http.ResponseWriter, r *http.Request, id string, status int, p page) {
	c.renderEpisodeWith(w, r, id, status, p, "", "")
}

// renderEpisodeWith is the episode page with "Where they can go now"
// ranked from town (the episode's own when ""), and the form that records
// the place chosen filled with it (choose: a place id; "" none).
func (c *Server) renderEpisodeWith(w http.ResponseWriter, r *http.Request, id string, status int, p page, town, choose string) {
	s, _ := sessionFrom(r.Context())
	reason := s.Reasons[id]
	// Who has viewed the episode is asked for alongside the view, not
	// after it; it is shown only when the view is given.
	type viewings struct {
		record.DisclosuresResponse
		err error
	}
	viewed := make(chan viewings, 1)
	go func() {
		dr, err := rpc.Call[record.EpisodeRequest, record.DisclosuresResponse](r.Context(), c.nc, record.SubjectDisclosures, record.EpisodeRequest{Episode: id})
		viewed <- viewings{dr, err}
	}()
	// The view is decoded straight from the answer (a record.ViewResponse),
	// not kept as bytes and decoded again.
	var resp struct {
		Fields []string     `json:"fields"`
		View   episode.View `json:"view"`
	}
	err := c.viewEpisode(r.Context(), s, id, reason, r.URL.Query().Get("after"), &resp)
	if err != nil {
		var re *rpc.Error
		if errors.As(err, &re) && re.Code == rpc.Forbidden && strings.HasPrefix(re.Message, episode.NoPartMessage) {
			c.log.Info("episode needs a reason", zap.String("episode", logsafe.ID(id)), zap.String("agency", string(s.Agency)))
			c.render(w, r, "reason", http.StatusForbidden, page{Title: "Why do you need this episode?", Data: reasonData{id, s.Agency, maxReasonLen}})
			return
		}
		if errors.As(err, &re) && (re.Code == rpc.NotFound || re.Code == rpc.BadRequest) {
			http.Error(w, "There is no episode "+id+".", http.StatusNotFound)
			return
		}
		if errors.As(err, &re) && re.Code == rpc.Conflict && strings.HasSuffix(re.Message, rpc.TooLarge) {
			c.log.Error("episode view: the episode is too large to send whole", zap.String("episode", logsafe.ID(id)))
			http.Error(w, "This episode has grown too large to show whole (crisisbus sends an episode in one message, and this one is past its limit). "+
				"Reloading will not help. Record what comes next on a new episode for the person, and link it to this one; the people who run crisisbus are told.", http.StatusConflict)
			return
		}
		if gone(r, err) {
			c.log.Debug("episode view: the browser left", zap.String("episode", logsafe.ID(id)))
			return
		}
		c.log.Error("episode view", zap.String("episode", logsafe.ID(id)), zap.String("cause", logsafe.Cause(err)))
		http.Error(w, "The episode could not be loaded just now. Reload the page to try again.", http.StatusServiceUnavailable)
		return
	}
	if reason == "" {
		c.parties.add(id, s.Agency) // the record found the agency has a part in it
	}
	var d episodeData
	d.Reason = reason
	d.V = resp.View
	d.Fields = resp.Fields
	d.Clinical = slices.Contains(resp.Fields, "clinical")
	d.Mine = d.V.Owner == s.Agency && !d.V.Closed
	d.RecordsConsent = episode.SeesClinical(s.Agency) && d.V.HasPart(s.Agency) && !d.V.Closed
	d.HavenConsented = d.V.ClinicalTo(events.SafeHaven)
	for _, h := range d.V.Handoffs {
		if !h.State.Open() {
			continue
		}
		if h.To == s.Agency {
			d.Offers = append(d.Offers, h)
		}
		if h.From == s.Agency {
			d.Outgoing = append(d.Outgoing, h)
		}
	}
	if d.V.S136 != nil {
		d.S136Due, _ = d.V.S136.DueAt()
	}
	if f := d.V.FollowUp; f != nil {
		for i, due := range f.Scheduled {
			call := followUpCall{Number: i + 1, Due: due}
			for _, a := range f.Attempts {
				if a.Number == i+1 {
					call.Done = a.Outcome
				}
			}
			d.FollowUps = append(d.FollowUps, call)
			if call.Done == "" && d.NextCall == 0 {
				d.NextCall = call.Number
			}
		}
	}
	d.FollowUpBy = d.V.FollowUpBy()
	d.CallsMine = d.FollowUpBy != "" && d.FollowUpBy == s.Agency
	d.Agencies = slices.DeleteFunc(slices.Clone(events.Agencies), func(a events.Agency) bool { return a == s.Agency })
	// What the forms show (possible matches, where the person can go) is
	// read side by side: each part is its own request, and a page shown to
	// someone waiting should cost the slowest of them, not their sum. A
	// page refreshing itself is sent its live regions alone (render) and
	// needs neither.
	forms := !isLive(r) || choose != ""
	var parts sync.WaitGroup
	if d.Mine && forms {
		parts.Go(func() {
			if mr, err := rpc.Call[record.EpisodeRequest, record.MatchResponse](r.Context(), c.nc, record.SubjectMatch, record.EpisodeRequest{Episode: id}); err == nil {
				d.Matches = mr.Matches
			}
		})
	}
	if forms {
		parts.Go(func() { d.Places = c.wherePanelFor(r.Context(), s, &d.V, town) })
	}
	parts.Wait()
	if dr := <-viewed; dr.err == nil {
		d.Disclosures, d.Dropped = mostRecentFirst(dr.Disclosures), dr.Dropped
	}
	if choose != "" {
		if d.Places == nil {
			http.Error(w, "Only the agency holding the episode chooses where the person goes.", http.StatusForbidden)
			return
		}
		if err := fillWith(&p, d.Places, &d.V, s.Agency, choose); err != nil {
			var fe formError
			if !errors.As(err, &fe) {
				c.log.Error("choose a place", zap.String("episode", logsafe.ID(id)), zap.String("cause", logsafe.Cause(err)))
				fe = formError{"places", "The place could not be chosen just now. Try again."}
			}
			p.Errors = append(p.Errors, fieldError{fe.field, fe.msg})
			status = http.StatusUnprocessableEntity
		}
	}
	if m, ok := markFrom(r.Context()); ok {
		p.LiveSince = c.live.markFor(m, id, d.V.Has, time.Now()).String()
	}
	p.Title = "Episode: " + d.V.Person.Name()
	p.Data = d
	c.render(w, r, "episode", status, p)
}

// viewEpisode asks the record for episode id as the signed-in person's
// agency sees it, decoded into into: for reason when their agency has no
// part in it ("" when it has), after the event after ("" none). The
// record refuses a view without a reason to an agency with no part in the
// episode, and records every view it gives as a disclosure.
func (c *Server) viewEpisode(ctx context.Context, s session, id, reason, after string, into any) error {
	return rpc.CallInto(ctx, c.nc, record.ViewSubject(s.Agency), record.ViewRequest{
		Episode: id, Agency: s.Agency, Viewer: c.viewer(s),
		Purpose: "direct care: " + s.Role + " working on the episode in the console", After: after,
		Reason: reason}, into)
}

// mostRecentFirst orders the record's summary of who viewed, most recent first.
// The record keeps one entry per viewer, agency and purpose with how often
// and when first and last (a page that refreshes itself reads again, and
// identical reads within 15 minutes are one disclosure).
func mostRecentFirst(ds []record.Disclosure) []record.Disclosure {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(a, b record.Disclosure) int { return b.Last.Compare(a.Last) })
	return out
}
