package record

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/nats-io/nats.go/jetstream"
)

// An agency finds an episode it has had a part in by what the person or a
// caller says on the phone: a name, an NHS number, a phone number or the
// episode's reference. The record answers from its person index (the
// people bucket: NHS numbers and phone numbers for matching, and the
// reference and each word of the person's names, SearchKeys), reading only
// the episodes the term is filed under, never every episode. Like a
// worklist, every episode in the answer is a disclosure to the viewer,
// recorded before it is sent; the term itself is personal data and is
// never logged nor recorded.

// SearchSubject is where agency a searches: SearchRequest → SearchResponse.
func SearchSubject(a events.Agency) string { return "crisisbus.record." + string(a) + ".search" }

// HandedOnSubject is where agency a lists what it has handed on:
// WorklistRequest → WorklistResponse.
func HandedOnSubject(a events.Agency) string { return "crisisbus.record." + string(a) + ".handedon" }

// MaxSearchLen bounds a search term, in characters.
const MaxSearchLen = 100

// MaxSearchResults bounds a search's answer: a term that finds more (a
// common first name) asks for more of the name.
const MaxSearchResults = 25

// SearchRequest searches an agency's episodes. Viewer and purpose are
// required, as for a worklist.
type SearchRequest struct {
	Agency  events.Agency `json:"agency,omitempty"` // optional: the subject names the agency
	Viewer  string        `json:"viewer"`
	Purpose string        `json:"purpose"`
	// Term is a name (any of its words), an NHS number, a phone number or
	// a reference ("K7M4 QP2X"), at most MaxSearchLen characters.
	Term string `json:"term"`
}

// Validate names what is missing or too long.
func (r *SearchRequest) Validate() error {
	var errs []error
	if r.Agency != "" && !r.Agency.Pathway() {
		errs = append(errs, fmt.Errorf("agency %q is not one of %v", r.Agency, events.Agencies))
	}
	switch n := utf8.RuneCountInString(r.Term); {
	case strings.TrimSpace(r.Term) == "":
		errs = append(errs, errors.New("term is required: a name, an NHS number, a phone number or a reference"))
	case n > MaxSearchLen:
		errs = append(errs, fmt.Errorf("term is %d characters; a search term is at most %d", n, MaxSearchLen))
	}
	errs = append(errs, checkViewer(r.Viewer), checkPurpose(r.Purpose))
	return errors.Join(errs...)
}

// SearchResponse lists the episodes found, the most recently touched first:
// open and closed, only those the agency has had a part in. More says
// there were more than MaxSearchResults.
type SearchResponse struct {
	Agency events.Agency `json:"agency"`
	Items  []WorkItem    `json:"items"`
	More   bool          `json:"more,omitempty"`
}

// SearchKeys are the keys an episode is found by besides its person's
// (PersonKeys): its reference, and each word of the person's names.
func SearchKeys(id string, p episode.Person) []string {
	var keys []string
	if ref, ok := episode.ParseReference(episode.Reference(id)); ok {
		keys = append(keys, "reference."+keyPart(ref))
	}
	seen := map[string]bool{}
	for _, name := range []string{p.GivenName, p.FamilyName, p.KnownAs} {
		for _, w := range nameWords(name) {
			if !seen[w] {
				seen[w] = true
				keys = append(keys, "name."+w)
			}
		}
	}
	return keys
}

// nameWords are the words of a name as keys: "Anne-Marie O'Neill" is
// "anne", "marie" and "oneill".
func nameWords(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '-' || r == ',' }) {
		if k := keyPart(strings.ReplaceAll(w, "-", "")); k != "_" {
			out = append(out, k)
		}
	}
	return out
}

// searchKeys are the keys a term may be filed under, each a set of keys
// every one of which must hold the episode (the words of a name).
func searchKeys(term string) [][]string {
	var out [][]string
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, term)
	phoneLike := digits != "" && strings.IndexFunc(term, func(r rune) bool {
		return !(r >= '0' && r <= '9') && !strings.ContainsRune(" +-()", r)
	}) < 0
	if phoneLike {
		if len(digits) == 10 && events.ValidNHSNumber(digits) {
			out = append(out, []string{"nhs_number." + digits})
		}
		out = append(out, []string{"phone_number." + keyPart(term)})
		if keyPart(term) != digits {
			out = append(out, []string{"phone_number." + digits})
		}
	}
	if ref, ok := episode.ParseReference(term); ok {
		out = append(out, []string{"reference." + keyPart(ref)})
	}
	if words := nameWords(term); len(words) > 0 && !phoneLike {
		var all []string
		for _, w := range words {
			all = append(all, "name."+w)
		}
		out = append(out, all)
	}
	return out
}

// maxChecks bounds the episodes a search checks one by one: against a
// name word filed under too many to read (maxFiled), and by reading their
// views to keep those the agency has had a part in.
const maxChecks = 200

// Search returns the episodes filed under the term, the most recently
// opened first. Its cost is bounded however many episodes the record
// holds: more says that others may be filed under the term too (a common
// name), which the agency narrows with more of the name.
func (s *Store) Search(ctx context.Context, term string) (found []filed, more bool, err error) {
	seen := map[string]bool{}
	for _, all := range searchKeys(term) {
		eps, truncated, err := s.filedUnderAll(ctx, all)
		if err != nil {
			return nil, false, err
		}
		more = more || truncated
		for _, f := range eps {
			if !seen[f.episode] {
				seen[f.episode] = true
				found = append(found, f)
			}
		}
	}
	slices.SortFunc(found, func(x, y filed) int { return y.opened.Compare(x.opened) })
	return found, more, nil
}

// filedUnderAll lists the episodes filed under every one of keys (the
// words of a name). Keys filed under too many to read whole are checked
// episode by episode against the others' lists, at most maxChecks.
func (s *Store) filedUnderAll(ctx context.Context, keys []string) ([]filed, bool, error) {
	var (
		have    []filed
		known   bool // have is a complete list
		partial []string
		more    bool
	)
	for _, k := range keys {
		eps, truncated, err := s.filedUnder(ctx, k)
		if err != nil {
			return nil, false, err
		}
		switch {
		case truncated:
			partial = append(partial, k)
			if !known && len(have) == 0 {
				have = eps // the first read, until a complete list is found
			}
		case !known:
			have, known = eps, true
		default:
			in := make(map[string]bool, len(eps))
			for _, g := range eps {
				in[g.episode] = true
			}
			have = slices.DeleteFunc(have, func(f filed) bool { return !in[f.episode] })
		}
		if known && len(have) == 0 {
			return nil, false, nil
		}
	}
	if !known {
		// Every word is filed under too many: what was read is a part.
		more = true
		partial = partial[1:]
	}
	if len(partial) == 0 {
		return have, more, nil
	}
	if len(have) > maxChecks {
		have, more = have[:maxChecks], true
	}
	kept := have[:0]
	for _, f := range have {
		in := true
		for _, k := range partial {
			if _, err := s.people.Get(ctx, k+"."+f.episode); errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
				in = false
				break
			} else if err != nil {
				return nil, false, fmt.Errorf("read the person index under %s: %w", keyKind(k), err)
			}
		}
		if in {
			kept = append(kept, f)
		}
	}
	return kept, more, nil
}

// search serves agency a's search: the episodes found that a has had a
// part in, each recorded as a disclosure to the viewer before the answer
// is sent.
func (r *Record) search(ctx context.Context, a events.Agency, req SearchRequest) (SearchResponse, error) {
	if req.Agency != "" && req.Agency != a {
		return SearchResponse{}, events.Errorf(events.Invalid, "this is the %s search; agency %s asks on %s", a, req.Agency, SearchSubject(req.Agency))
	}
	found, more, err := r.store.Search(ctx, strings.TrimSpace(req.Term))
	if err != nil {
		return SearchResponse{}, err
	}
	// The most recently opened first, until there are enough the agency
	// has had a part in: an answer never reads every episode of a name.
	items := []WorkItem{}
	for i, f := range found {
		if len(items) > MaxSearchResults || i == maxChecks {
			more = true
			break
		}
		v, _, ok, err := r.store.Get(ctx, f.episode)
		if err != nil {
			return SearchResponse{}, err
		}
		if ok && v.HasPart(a) {
			items = append(items, describe(v, a))
		}
	}
	slices.SortFunc(items, func(x, y WorkItem) int { return y.LastAt.Compare(x.LastAt) })
	resp := SearchResponse{Agency: a, Items: items, More: more}
	if len(items) > MaxSearchResults {
		resp.Items, resp.More = items[:MaxSearchResults], true
	}
	if err := r.discloseItems(ctx, a, req.Viewer, req.Purpose, resp.Items); err != nil {
		return SearchResponse{}, err
	}
	return resp, nil
}

// handedOn serves agency a's "handed on" list: the open episodes it opened,
// held or offered that another agency now holds, the most recently
// touched first, each recorded as a disclosure before it is sent.
func (r *Record) handedOn(ctx context.Context, a events.Agency, req WorklistRequest) (WorklistResponse, error) {
	if req.Agency != "" && req.Agency != a {
		return WorklistResponse{}, events.Errorf(events.Invalid, "this is the %s list; agency %s asks on %s", a, req.Agency, HandedOnSubject(req.Agency))
	}
	items, err := r.store.HandedOn(ctx, a)
	if err != nil {
		return WorklistResponse{}, err
	}
	if err := r.discloseItems(ctx, a, req.Viewer, req.Purpose, items); err != nil {
		return WorklistResponse{}, err
	}
	return WorklistResponse{Agency: a, Items: items}, nil
}

// HandedOn returns the open episodes agency a opened, held or offered that
// another agency now holds, and that wait for nothing from a (those are on
// its worklist), the most recently touched first. While the record runs it
// reads them from the lists its watcher keeps; otherwise it reads every view.
func (s *Store) HandedOn(ctx context.Context, a events.Agency) ([]WorkItem, error) {
	if !a.Pathway() {
		return nil, fmt.Errorf("%s has no worklist (want one of %v)", a, events.Agencies)
	}
	var items []WorkItem
	if x := s.worklists.Load(); x != nil {
		items, _ = x.handed(a)
	}
	if items == nil {
		var err error
		if items, err = s.scan(ctx, func(v episode.View) (WorkItem, bool) { return handedOnItem(v, a) }); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(items, func(x, y WorkItem) int { return y.LastAt.Compare(x.LastAt) })
	return items, nil
}

// handedOnItem is the episode on agency a's "handed on" list, if it is.
func handedOnItem(v episode.View, a events.Agency) (WorkItem, bool) {
	if v.Closed || v.Owner == "" || v.Owner == a {
		return WorkItem{}, false
	}
	if _, waiting := workItem(v, a); waiting {
		return WorkItem{}, false
	}
	held := v.OpenedBy == a
	for _, h := range v.Handoffs {
		if h.From == a || (h.To == a && h.State == episode.Accepted) {
			held = true
		}
	}
	if !held {
		return WorkItem{}, false
	}
	return describe(v, a), true
}

// discloseItems records each item as a disclosure of its episode to the
// viewer.
func (r *Record) discloseItems(ctx context.Context, a events.Agency, viewer, purpose string, items []WorkItem) error {
	reads := make([]disclosure, 0, len(items))
	for _, it := range items {
		fields, err := itemFields(it)
		if err != nil {
			return fmt.Errorf("item of episode %s: %w", it.Episode, err)
		}
		reads = append(reads, disclosure{episode: it.Episode, fields: fields})
	}
	if len(reads) == 0 {
		return nil
	}
	_, err := r.disclose(ctx, viewer, a, purpose, reads)
	return err
}
