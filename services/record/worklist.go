package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// WorklistSubject is where agency a asks what is waiting for it:
// WorklistRequest → WorklistResponse. Like the view, it is on the agency's
// own subject, so NATS permissions keep each agency to its own list.
func WorklistSubject(a events.Agency) string { return "crisisbus.record." + string(a) + ".worklist" }

// WorklistRequest asks for an agency's worklist. Like a view, it needs a
// viewer and a purpose: each episode it lists is a disclosure of that
// person's details, recorded before the list is sent.
type WorklistRequest struct {
	Agency  events.Agency `json:"agency,omitempty"` // optional: the subject names the agency
	Viewer  string        `json:"viewer"`
	Purpose string        `json:"purpose"`
}

// Validate names what is missing or too long.
func (r *WorklistRequest) Validate() error {
	var errs []error
	if r.Agency != "" && !r.Agency.Pathway() {
		errs = append(errs, fmt.Errorf("agency %q is not one of %v", r.Agency, events.Agencies))
	}
	errs = append(errs, checkViewer(r.Viewer), checkPurpose(r.Purpose))
	return errors.Join(errs...)
}

// WorklistResponse lists what is waiting for an agency, most urgent first.
type WorklistResponse struct {
	Agency events.Agency `json:"agency"`
	Items  []WorkItem    `json:"items"`
}

// WorkItem is one episode on an agency's worklist: enough to choose what to
// do next, nothing clinical. Showing it is a read of the person's record,
// recorded as a disclosure of that episode naming the item's fields
// (prefixed "worklist.": worklist.person is the name only); opening the
// episode is another.
type WorkItem struct {
	Episode     string        `json:"episode"`
	Person      string        `json:"person"` // name as known, or "Person not yet identified"
	AgeYears    int           `json:"ageYears,omitempty"`
	Owner       events.Agency `json:"owner,omitempty"`
	LegalStatus string        `json:"legalStatus,omitempty"`
	OpenedAt    time.Time     `json:"openedAt,omitzero"`
	Location    string        `json:"location,omitempty"`
	// Offers are the handoffs addressed to the agency still waiting for its answer.
	Offers []episode.Handoff `json:"offers,omitempty"`
	// S136DueAt is when the s136 permitted period ends (zero when none runs).
	S136DueAt time.Time `json:"s136DueAt,omitzero"`
	PlaceName string    `json:"placeName,omitempty"`
	// FollowUpDue are the follow-up calls scheduled and not yet made, and
	// FollowUpBy the agency that makes them (not always the owner: the
	// helpline keeps its calls when SPoA takes an escalation on).
	FollowUpDue []time.Time   `json:"followUpDue,omitempty"`
	FollowUpBy  events.Agency `json:"followUpBy,omitempty"`
	// CommunicationNeeds (interpreter, BSL, ...) and the language, and Risk,
	// the risk as last judged: shown before anyone accepts the episode.
	CommunicationNeeds []string    `json:"communicationNeeds,omitempty"`
	Language           string      `json:"language,omitempty"`
	Risk               events.Risk `json:"risk,omitempty"`
	Escalated          bool        `json:"escalated,omitempty"` // a clock broke on this episode
	Closed             bool        `json:"closed,omitempty"`    // found by a search: the episode is closed
	LastAt             time.Time   `json:"lastAt"`
	// DueAt is the earliest deadline of the item, the order of the list.
	DueAt time.Time `json:"dueAt,omitzero"`
}

// worklist serves agency a's worklist, each episode on it recorded as a
// disclosure to the viewer before the list is sent.
func (r *Record) worklist(ctx context.Context, a events.Agency, req WorklistRequest) (WorklistResponse, error) {
	if req.Agency != "" && req.Agency != a {
		return WorklistResponse{}, events.Errorf(events.Invalid, "this is the %s worklist; agency %s asks on %s", a, req.Agency, WorklistSubject(req.Agency))
	}
	items, err := r.store.Worklist(ctx, a)
	if err != nil {
		return WorklistResponse{}, err
	}
	if err := r.discloseItems(ctx, a, req.Viewer, req.Purpose, items); err != nil {
		return WorklistResponse{}, err
	}
	return WorklistResponse{Agency: a, Items: items}, nil
}

// itemFields names every field of a work item as sent.
func itemFields(it WorkItem) ([]string, error) {
	raw, err := json.Marshal(it)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return episode.FieldNames(m, "worklist."), nil
}

// Worklist returns the episodes waiting for agency a: those it owns and has
// not closed, and those with a handoff offered to it and not yet answered.
// While the record runs it reads them from the worklists its watcher keeps
// (only what waits for a); otherwise it reads every view in the record.
func (s *Store) Worklist(ctx context.Context, a events.Agency) ([]WorkItem, error) {
	if !a.Pathway() {
		return nil, fmt.Errorf("%s has no worklist (want one of %v)", a, events.Agencies)
	}
	if x := s.worklists.Load(); x != nil {
		if items, ok := x.items(a); ok {
			sortWork(items)
			return items, nil
		}
	}
	return s.scanWorklist(ctx, a)
}

// scanWorklist reads every view in the record for agency a's work items.
func (s *Store) scanWorklist(ctx context.Context, a events.Agency) ([]WorkItem, error) {
	items, err := s.scan(ctx, func(v episode.View) (WorkItem, bool) { return workItem(v, a) })
	sortWork(items)
	return items, err
}

// scan reads every open episode's view in the record for the items keep
// finds.
func (s *Store) scan(ctx context.Context, keep func(episode.View) (WorkItem, bool)) ([]WorkItem, error) {
	keys, err := s.views.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return []WorkItem{}, nil
		}
		return nil, fmt.Errorf("list episodes: %w", err)
	}
	items := []WorkItem{}
	for k := range keys.Keys() {
		if !validKey(k) {
			continue // not an episode: the checkpoint, the store's start mark
		}
		v, _, ok, err := s.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if !ok || v.Closed {
			continue
		}
		if item, ok := keep(v); ok {
			items = append(items, item)
		}
	}
	return items, nil
}

// sortWork puts the most urgent first: the earliest due, then the latest
// touched.
func sortWork(items []WorkItem) {
	slices.SortFunc(items, func(x, y WorkItem) int {
		switch {
		case x.DueAt.IsZero() && !y.DueAt.IsZero():
			return 1
		case !x.DueAt.IsZero() && y.DueAt.IsZero():
			return -1
		case !x.DueAt.Equal(y.DueAt):
			return x.DueAt.Compare(y.DueAt)
		}
		return y.LastAt.Compare(x.LastAt)
	})
}

// workItem is the episode as an item of agency a's worklist, if it waits
// for a: a owns it, has an offer of it to answer, or makes its follow-up
// calls.
func workItem(v episode.View, a events.Agency) (WorkItem, bool) {
	offered := slices.ContainsFunc(v.Handoffs, func(h episode.Handoff) bool { return h.To == a && h.State.Open() })
	if v.Owner != a && !offered && v.FollowUpBy() != a {
		return WorkItem{}, false
	}
	if a == events.AMHP && v.Owner == a && !offered && assessedAndReferred(v) {
		return WorkItem{}, false
	}
	return describe(v, a), true
}

// describe is the episode as an item of a list of agency a's: its
// worklist, what it handed on, what it found.
func describe(v episode.View, a events.Agency) WorkItem {
	it := WorkItem{Episode: v.Episode, Person: v.Person.Name(), AgeYears: v.Person.AgeYears, Owner: v.Owner,
		LegalStatus: v.LegalStatus, OpenedAt: v.OpenedAt, Location: v.Location, Closed: v.Closed}
	for _, h := range v.Handoffs {
		if h.To == a && h.State.Open() {
			it.Offers = append(it.Offers, h)
			if h.Escalated {
				it.Escalated = true
			}
		}
	}
	caller := v.FollowUpBy()
	// A copy: the view may be one the store keeps and goes on folding into.
	it.CommunicationNeeds, it.Language = slices.Clone(v.Needs), v.Language
	for _, r := range v.Risks {
		if r.Level != "" {
			it.Risk = r.Level
		}
	}
	if n := len(v.Timeline); n > 0 {
		it.LastAt = v.Timeline[n-1].Time
	}
	if v.S136 != nil {
		it.AgeYears = v.S136.AgeYears
		it.PlaceName = v.S136.PlaceName
		if due, ok := v.S136.DueAt(); ok {
			it.S136DueAt = due
			it.DueAt = due
		}
	}
	if f := v.FollowUp; f != nil && !f.Completed && caller != "" {
		it.FollowUpBy = caller
		made := map[int]bool{}
		for _, at := range f.Attempts {
			made[at.Number] = true
		}
		for i, due := range f.Scheduled {
			if !made[i+1] {
				it.FollowUpDue = append(it.FollowUpDue, due)
			}
		}
		// The calls order the list of whoever makes them, no one else's.
		if caller == a && len(it.FollowUpDue) > 0 && (it.DueAt.IsZero() || it.FollowUpDue[0].Before(it.DueAt)) {
			it.DueAt = it.FollowUpDue[0]
		}
	}
	for _, c := range v.Clocks {
		if c.Breached {
			it.Escalated = true
		}
	}
	return it
}

// assessedAndReferred reports whether the AMHP service has finished its
// part: the assessment concluded "not admitted" and the follow-up is
// offered to the helpline, waiting for its answer and not escalated. The
// episode then waits for the helpline, not in the AMHP's queue; it comes
// back if the helpline declines or does not answer in time.
func assessedAndReferred(v episode.View) bool {
	if v.Assessment == nil || v.Assessment.Outcome != "not_admitted" {
		return false
	}
	for _, h := range v.Handoffs {
		if h.Kind == events.FollowUp && h.From == events.AMHP && h.State.Open() && !h.Escalated {
			return true
		}
	}
	return false
}
