package console

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The control room loses sight of an episode once another agency takes it
// on; the helpline is rung back by someone who gives only their name or
// the reference they were read. Two pages answer: what the agency handed
// on (still open, now with another agency), and a search by name, NHS
// number, phone number or reference. Both are served by the record, which
// records every episode listed as a disclosure to the person looking. The
// search term is personal data: it is posted, never put in the address,
// and never logged.

// listData is a list of episodes: what was handed on, or what was found.
type listData struct {
	Items []record.WorkItem
	Err   string
	// Term is what was searched for (the find page), Searched whether a
	// search was made, More whether it found more than it shows.
	Term     string
	Searched bool
	More     bool
}

func (c *Server) viewer(s session) string { return s.Name + " (" + s.Username + ")" }

// handedOnPage lists the open episodes the person's agency handed on.
func (c *Server) handedOnPage(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionFrom(r.Context())
	var d listData
	resp, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](r.Context(), c.nc, record.HandedOnSubject(s.Agency), record.WorklistRequest{
		Agency: s.Agency, Viewer: c.viewer(s), Purpose: "direct care: " + s.Role + " following up episodes the agency handed on"})
	if err != nil {
		c.log.Error("handed-on list", zap.String("agency", string(s.Agency)), zap.String("cause", logsafe.Cause(err)))
		d.Err = "The list could not be loaded just now. It will load again by itself; if it does not, reload the page."
	}
	d.Items = resp.Items
	for _, it := range d.Items {
		c.parties.add(it.Episode, s.Agency)
	}
	c.render(w, r, "handedon", http.StatusOK, page{Title: "Handed on: with another agency now", Data: d})
}

// findPage is the search form; a post searches.
func (c *Server) findPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "find", http.StatusOK, page{Title: "Find a person", Data: listData{}})
}

func (c *Server) find(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionFrom(r.Context())
	term := strings.Join(strings.Fields(r.PostForm.Get("term")), " ")
	d := listData{Term: term}
	p := page{Title: "Find a person", Form: r.PostForm, Action: "find"}
	var msg string
	switch n := utf8.RuneCountInString(term); {
	case term == "":
		msg = "Enter a name, an NHS number, a phone number or a reference"
	case n > record.MaxSearchLen:
		msg = fmt.Sprintf("What you entered is %d characters; it can be at most %d", n, record.MaxSearchLen)
	}
	if msg != "" {
		p.Errors, p.Data = []fieldError{{"find-term", msg}}, d
		c.render(w, r, "find", http.StatusUnprocessableEntity, p)
		return
	}
	resp, err := rpc.Call[record.SearchRequest, record.SearchResponse](r.Context(), c.nc, record.SearchSubject(s.Agency), record.SearchRequest{
		Agency: s.Agency, Viewer: c.viewer(s), Purpose: "direct care: " + s.Role + " finding a person's episode", Term: term})
	if err != nil {
		// The log says the search failed and why in kind, never what was typed.
		c.log.Error("search", zap.String("agency", string(s.Agency)), zap.String("cause", logsafe.Cause(err)))
		d.Err = "The search could not be made just now. Try again."
	}
	d.Searched, d.Items, d.More = err == nil, resp.Items, resp.More
	for _, it := range d.Items {
		if !it.Closed {
			c.parties.add(it.Episode, s.Agency)
		}
	}
	p.Data = d
	c.render(w, r, "find", http.StatusOK, p)
}
