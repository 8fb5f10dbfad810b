package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// "It makes such a difference when … things are explained to you." The
// agency holding the episode gives the person a note of what happens next,
// in plain words: what was agreed, who will call and when, the crisis line
// (111, then the mental health option), and the safe havens open tonight
// near them. It is worded for their recorded communication needs (easy
// read; the British Sign Language routes to 111 and 999; an interpreter
// on 111), read out or printed, and that it was given is recorded
// (person.note_given).

// Note formats: the wording of the note.
const (
	noteStandard = "standard"
	noteEasyRead = "easy_read"
	noteBSL      = "bsl"
)

// noteData is the note page: the form that shapes the note, and the note.
type noteData struct {
	Episode string
	Note    note
	Towns   []string
}

// note is what the person is given.
type note struct {
	Name        string
	Format      string // standard, easy_read or bsl
	BSL         bool   // the BSL routes are given (format bsl, or BSL recorded)
	Language    string // an interpreter is needed, in this language
	Agreed      string
	WhoWillCall string
	Town        string
	Havens      []noteHaven
	At          time.Time
}

// EasyRead reports whether the note is in easy read.
func (n note) EasyRead() bool { return n.Format == noteEasyRead }

// noteHaven is a safe haven open tonight.
type noteHaven struct {
	Name, Address, Town, Phone, When string
}

// HavenNames are the havens' names, as the event records them.
func (n note) HavenNames() []string {
	out := make([]string, 0, len(n.Havens))
	for _, h := range n.Havens {
		out = append(out, h.Name)
	}
	return out
}

var directory = sync.OnceValues(places.Default)

// nearKm is how far a safe haven may be to be listed, beyond the nearest.
const nearKm = 30

// havensTonight are the safe havens the person may walk into (open access,
// for their age; age < 0 when not known) that are open now or open later
// tonight (before 06:00), nearest first: the nearest, and up to two more
// within nearKm of the town (any, when the town is not known).
func havensTonight(town string, age int, now time.Time) ([]noteHaven, error) {
	d, err := directory()
	if err != nil {
		return nil, fmt.Errorf("the directory of places: %w", err)
	}
	local := now.In(places.London)
	dawn := time.Date(local.Year(), local.Month(), local.Day(), 6, 0, 0, 0, places.London)
	if !local.Before(dawn) {
		dawn = dawn.AddDate(0, 0, 1)
	}
	var out []noteHaven
	for _, o := range d.Route(places.Need{At: now, From: town, Age: age, Kinds: []places.Kind{places.SafeHaven}}, nil) {
		p := o.Place
		if p.Access != places.OpenAccess || !p.ForAge(age) {
			continue
		}
		var when string
		switch {
		case o.Open:
			when = "open now, until " + o.Until.In(places.London).Format("15:04")
		case !o.NextOpen.IsZero() && o.NextOpen.Before(dawn):
			when = "opens at " + o.NextOpen.In(places.London).Format("15:04") + " tonight"
		default:
			continue
		}
		if o.Km > nearKm && len(out) > 0 {
			break // nearest first: the rest are further still
		}
		h := noteHaven{Name: p.Name, Address: p.Address, Town: p.Town, Phone: p.Phone, When: when}
		if strings.Contains(h.Address, h.Town) {
			h.Town = "" // the address names it
		}
		out = append(out, h)
		if len(out) == 3 {
			break
		}
	}
	return out, nil
}

// townOf is the bundled town named in where the person is ("Pentagon bus
// station, Chatham" → Chatham), or "".
func townOf(where ...string) string {
	for _, w := range where {
		lw := strings.ToLower(w)
		for _, t := range places.Towns() {
			if strings.Contains(lw, strings.ToLower(t)) {
				return t
			}
		}
	}
	return ""
}

// whoWillCall says who will phone the person and when, from the follow-up
// calls still to make ("" when none are scheduled).
func whoWillCall(v episode.View, now time.Time) string {
	by, f := v.FollowUpBy(), v.FollowUp
	if by == "" || f == nil || f.Completed {
		return ""
	}
	made := map[int]bool{}
	for _, a := range f.Attempts {
		made[a.Number] = true
	}
	var days []string
	for i, due := range f.Scheduled {
		if !made[i+1] && !due.Before(now.Add(-24*time.Hour)) {
			days = append(days, due.In(london).Format("Monday 2 January"))
		}
	}
	if len(days) == 0 {
		return ""
	}
	list := days[0]
	if len(days) > 1 {
		list = strings.Join(days[:len(days)-1], ", ") + " and " + days[len(days)-1]
	}
	return "The " + by.Title() + " will phone you on " + list + "."
}

// noteFor builds the note from the episode and what the owner typed (form
// values: format, agreed, whoWillCall, town; empty: the defaults).
func noteFor(v episode.View, get func(string) string, now time.Time) (note, error) {
	n := note{Name: v.Person.Name(), At: now, Agreed: get("agreed"), WhoWillCall: get("whoWillCall"), Town: get("town"), Format: get("format")}
	if n.Format == "" {
		n.Format = noteStandard
		switch {
		case slices.Contains(v.Needs, "easy_read"):
			n.Format = noteEasyRead
		case slices.Contains(v.Needs, "bsl"):
			n.Format = noteBSL
		}
	}
	if !slices.Contains([]string{noteStandard, noteEasyRead, noteBSL}, n.Format) {
		return n, fieldErr("format", "Choose how the note is worded")
	}
	n.BSL = n.Format == noteBSL || slices.Contains(v.Needs, "bsl")
	if slices.Contains(v.Needs, "interpreter") {
		n.Language = orDefault(v.Language, "your language")
	}
	if n.WhoWillCall == "" {
		n.WhoWillCall = whoWillCall(v, now)
	}
	if n.Town == "" {
		place := ""
		if v.S136 != nil {
			place = v.S136.PlaceName
		}
		n.Town = townOf(v.Location, place)
	} else if !slices.Contains(places.Towns(), n.Town) {
		return n, fieldErr("town", "Choose the town from the list")
	}
	age := v.Person.AgeYears
	if v.S136 != nil && v.S136.AgeYears > 0 {
		age = v.S136.AgeYears
	}
	if age <= 0 {
		age = -1
	}
	var err error
	n.Havens, err = havensTonight(n.Town, age, now)
	return n, err
}

// noteLimits bound what is typed into the note, as the contract does.
var noteLimits = map[string]int{"agreed": 2000, "whoWillCall": 400}

// notePage shows the note: GET with the defaults, a post of the form with
// what the owner typed (never in the address: it is about the person).
func (c *Server) notePage(w http.ResponseWriter, r *http.Request, id string, p page) {
	v, status, msg := c.ownView(r.Context(), id)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	get := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	p.Title, p.Form = "A note for "+v.Person.Name()+": what happens next", r.PostForm
	if r.Method == http.MethodGet {
		get = func(string) string { return "" }
	} else if p.Action == "" {
		p.Action = "note"
	}
	for name, max := range noteLimits {
		if n := len([]rune(get(name))); n > max {
			p.Errors = append(p.Errors, fieldError{"note-" + name, fmt.Sprintf("This is %d characters; the note has room for %d", n, max)})
		}
	}
	n, err := noteFor(v, get, c.cfg.Now())
	if fe, ok := err.(formError); ok {
		p.Errors = append(p.Errors, fieldError{"note-" + fe.field, fe.msg})
	} else if err != nil {
		c.log.Error("note", zap.String("episode", logsafe.ID(id)), zap.String("cause", logsafe.Cause(err)))
		http.Error(w, "The note could not be made just now. Reload the page to try again.", http.StatusServiceUnavailable)
		return
	}
	p.Data = noteData{Episode: id, Note: n, Towns: places.Towns()}
	if len(p.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	c.render(w, r, "note", status, p)
}

// noteGiven records that the note was given, as it was shown.
var noteAction = action{
	agencies: pathway,
	required: [][2]string{{"how", "Choose how you gave the note"}},
	run: func(ctx context.Context, c *Server, in input) (string, string, error) {
		v, status, msg := c.ownView(ctx, in.episode)
		if status != http.StatusOK {
			return in.episode, "", fieldErr("how", msg)
		}
		n, err := noteFor(v, in.get, in.now)
		if err != nil {
			return in.episode, "", err
		}
		how := in.get("how")
		err = call(ctx, c, in, in.agency, "note", agency.NoteRequest{Base: in.base(), PersonNoteGiven: events.PersonNoteGiven{
			Format: n.Format, How: how, Agreed: n.Agreed, WhoWillCall: n.WhoWillCall, Town: n.Town, Havens: n.HavenNames()}})
		return in.episode, "Recorded: " + n.Name + " was given the note of what happens next (" + words(how) + ").", err
	},
}

func init() { actions["note"] = noteAction }

// ownView reads the episode for the person's agency, which must hold it:
// the note is the owner's to give. It returns the view, or the status and
// words of why not.
func (c *Server) ownView(ctx context.Context, id string) (episode.View, int, string) {
	s, _ := sessionFrom(ctx)
	resp, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, c.nc, record.ViewSubject(s.Agency), record.ViewRequest{
		Episode: id, Agency: s.Agency, Viewer: c.viewer(s), Purpose: "direct care: " + s.Role + " giving the person a note of what happens next"})
	if err != nil {
		if code := rpc.CodeOf(err); code == rpc.NotFound || code == rpc.BadRequest || code == rpc.Forbidden {
			return episode.View{}, http.StatusNotFound, "There is no episode " + id + " that your agency holds."
		}
		c.log.Error("note: episode view", zap.String("episode", logsafe.ID(id)), zap.String("cause", logsafe.Cause(err)))
		return episode.View{}, http.StatusServiceUnavailable, "The episode could not be loaded just now. Try again."
	}
	var v episode.View
	raw := resp.View
	if err := json.Unmarshal(raw, &v); err != nil {
		return episode.View{}, http.StatusServiceUnavailable, "The episode could not be read just now. Try again."
	}
	if v.Owner != s.Agency || v.Closed {
		return v, http.StatusForbidden, "Only the agency holding the episode gives the person the note of what happens next."
	}
	return v, http.StatusOK, ""
}
