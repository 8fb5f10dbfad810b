package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/fifo"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// Every read of a person's record is a disclosure: an agency's view, and
// each episode shown on an agency's worklist. Each is stored as a
// record.disclosed event (who, which agency, why, which fields) before the
// reply is sent; what cannot be recorded is not shown.
//
// The audit cannot be flooded:
//
//   - The viewer and the purpose are bounded (MaxViewerLen, MaxPurposeLen,
//     one line each); a longer one is refused with 400 naming the field.
//   - Identical reads (same episode, viewer, agency, purpose and fields)
//     within one DisclosureWindow of the clock are one disclosure: the event
//     id is derived from those and the window (disclosureID), so the server
//     drops the repeats as duplicates and the projection never sees them.
//   - What the record keeps per episode for "who viewed" (the bucket
//     EPISODE_DISCLOSURES) is a summary, one entry per viewer, agency and
//     purpose with how often, first and last time and the fields, at most
//     MaxDisclosureEntries entries and MaxDisclosureBytes bytes: the entries
//     viewed least recently are dropped from the summary (counted in
//     Dropped). Every disclosure stays in the stream as record.disclosed.
//
// The purpose is free text, not a fixed list: it is what a person is told
// about why someone looked ("handover at the s136 suite"), and the legal
// basis, stated separately on every event, is the same for every read
// (direct care), so a fixed list would say nothing more than that. Its
// length is bounded; the summary's bound does not depend on the vocabulary.
const (
	MaxViewerLen  = 200 // characters; the contract's limit for record.disclosed's viewer
	MaxPurposeLen = 200 // characters

	// DisclosureWindow is how long identical reads count as one disclosure.
	// The stream's duplicate window (24h) is longer, so the server drops
	// every repeat inside it.
	DisclosureWindow = 15 * time.Minute

	// MaxDisclosureEntries and MaxDisclosureBytes bound the summary kept per
	// episode, whatever the number of reads.
	MaxDisclosureEntries = 32
	MaxDisclosureBytes   = 16 << 10
)

// checkText refuses an empty, over-long or multi-line viewer or purpose,
// naming the field and the limit.
func checkText(field, why, s string, limit int) error {
	if s == "" {
		return fmt.Errorf("%s is required (%s)", field, why)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return fmt.Errorf("%s is too long: %d characters, at most %d", field, n, limit)
	}
	if !utf8.ValidString(s) || slices.ContainsFunc([]rune(s), unicode.IsControl) {
		return fmt.Errorf("%s must be one line of text, without control characters", field)
	}
	return nil
}

func checkViewer(s string) error {
	return checkText("viewer", "who is looking", s, MaxViewerLen)
}

func checkPurpose(s string) error {
	return checkText("purpose", "why they are looking", s, MaxPurposeLen)
}

// disclosureID is the event id of a disclosure: the same for identical
// reads within one DisclosureWindow, so the server stores the first only.
func disclosureID(id, viewer string, a events.Agency, purpose string, fields []string, at time.Time) string {
	seed, _ := json.Marshal([]any{id, viewer, a, purpose, fields, at.UTC().Truncate(DisclosureWindow).Unix()})
	return DeterministicID("disclosure/" + string(seed))
}

// disclosure is one read to be recorded.
type disclosure struct {
	episode string
	fields  []string
	trace   string // the episode's trace id (View.TraceID), if it has one
}

// disclose stores one record.disclosed event for each read, before anything
// is sent, and returns their event ids in order. A repeat within the window
// is stored once; its id is the one stored first.
func (r *Record) disclose(ctx context.Context, viewer string, a events.Agency, purpose string, reads []disclosure) ([]string, error) {
	now := r.cfg.Now()
	evs := make([]events.Event, 0, len(reads))
	for _, d := range reads {
		e, err := events.New(events.Record, d.episode, &events.RecordDisclosed{Viewer: viewer, Agency: a, Purpose: purpose, Fields: d.fields},
			events.At(now), events.By(viewer), events.Disclosure(purpose, disclosureLegalBase),
			events.WithID(disclosureID(d.episode, viewer, a, purpose, d.fields, now)), disclosureTrace(ctx, d.episode, d.trace))
		if err != nil {
			return nil, fmt.Errorf("disclosure of episode %s: %w", d.episode, err)
		}
		evs = append(evs, e)
	}
	ids := make([]string, len(evs))
	// A disclosure this record has stored already in this window is not
	// sent again: the server would drop it as a repeat (its id is the
	// same), and the round trip is a view's largest cost after the read.
	evs = slices.DeleteFunc(evs, func(e events.Event) bool { return r.stored.has(e.ID) })
	if len(evs) == 0 {
		for i, d := range reads {
			ids[i] = disclosureID(d.episode, viewer, a, purpose, d.fields, now)
		}
		return ids, nil
	}
	if len(evs) < len(reads) { // some known: publish the rest, answer every id
		for i, d := range reads {
			ids[i] = disclosureID(d.episode, viewer, a, purpose, d.fields, now)
		}
		for i, res := range r.cfg.Bus.PublishBatch(ctx, evs) {
			if res.Err != nil {
				return nil, fmt.Errorf("record the disclosures: %w", res.Err)
			}
			r.stored.add(evs[i].ID)
			r.logDisclosed(evs[i], res.Ack.Duplicate)
		}
		return ids, nil
	}
	if len(evs) == 1 {
		ack, err := r.cfg.Bus.Publish(ctx, evs[0])
		if err != nil {
			return nil, fmt.Errorf("record the disclosure: %w", err)
		}
		r.stored.add(evs[0].ID)
		r.logDisclosed(evs[0], ack.Duplicate)
		ids[0] = evs[0].ID
		return ids, nil
	}
	var errs []error
	for i, res := range r.cfg.Bus.PublishBatch(ctx, evs) {
		if res.Err != nil {
			errs = append(errs, res.Err)
			continue
		}
		r.stored.add(evs[i].ID)
		r.logDisclosed(evs[i], res.Ack.Duplicate)
		ids[i] = evs[i].ID
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("record the disclosures (%d of %d failed): %w", len(errs), len(evs), err)
	}
	return ids, nil
}

// disclosureTrace puts a disclosure in the trace of the episode read: a
// span of the record's, child of the reader's when it is in that trace. An
// episode without a trace leaves it to the span ctx carries, if any.
func disclosureTrace(ctx context.Context, episode, trace string) events.Option {
	if trace == "" {
		return func(*events.Event) {}
	}
	_, span := tracing.Start(ctx, "crisisbus-record", "disclose", episode, trace)
	span.End(nil)
	return span.Event()
}

// logDisclosed logs a disclosure by episode, event and agency: never the
// viewer's words or the person's details.
func (r *Record) logDisclosed(e events.Event, repeat bool) {
	msg := "disclosed"
	if repeat {
		msg = "disclosed again within the window; recorded once"
	}
	r.cfg.Log.Info(msg, append(tracing.EventFields(e), zap.String("episode", e.Subject), zap.String("event_id", e.ID),
		zap.String("agency", string(e.Source)), zap.String("type", e.Type))...)
}

// Disclosure is who viewed an episode's record, through which agency and
// why: every disclosure of one viewer, agency and purpose, summarised.
type Disclosure struct {
	Viewer  string        `json:"viewer"`
	Agency  events.Agency `json:"agency"`
	Purpose string        `json:"purpose"`
	// Fields are every field disclosed to them, over all their reads.
	Fields []string `json:"fields"`
	// Count is how many disclosures: identical reads within
	// DisclosureWindow are one.
	Count int       `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// EventID is the latest record.disclosed event.
	EventID string `json:"eventId"`
}

// Disclosures is what the record keeps per episode of who viewed it: at
// most MaxDisclosureEntries entries, in the order they first viewed it.
type Disclosures struct {
	Entries []Disclosure `json:"entries"`
	// Dropped counts the disclosures no longer summarised because their
	// entries were the least recently viewed; DroppedUpTo is the latest time
	// among them. They remain in the stream as record.disclosed events.
	Dropped     int       `json:"dropped,omitempty"`
	DroppedUpTo time.Time `json:"droppedUpTo,omitzero"`
}

// fold adds one record.disclosed event to the summary, and says whether it
// changed. A redelivered event changes nothing: first and last are a
// minimum and a maximum, fields a union, an event no later than its entry's
// last disclosure is not counted again (equal times are ordered by event
// id), and one older than every dropped entry is not added back. The price
// is that a disclosure stored out of time order (two instances of the
// record racing) may go uncounted in the summary; the stream has it.
func (s *Disclosures) fold(id string, at time.Time, d events.RecordDisclosed) (changed bool) {
	i := slices.IndexFunc(s.Entries, func(x Disclosure) bool {
		return x.Viewer == d.Viewer && x.Agency == d.Agency && x.Purpose == d.Purpose
	})
	if i < 0 {
		if at.Before(s.DroppedUpTo) {
			return false // older than what was dropped: already summarised, or would be dropped at once
		}
		fields := slices.Clone(d.Fields)
		slices.Sort(fields)
		s.Entries = append(s.Entries, Disclosure{Viewer: d.Viewer, Agency: d.Agency, Purpose: d.Purpose,
			Fields: slices.Compact(fields), Count: 1, First: at, Last: at, EventID: id})
		s.bound()
		return true
	}
	x := &s.Entries[i]
	if at.After(x.Last) || (at.Equal(x.Last) && id > x.EventID) { // equal times: ordered by id, so a redelivery is not counted twice
		x.Count++
		x.Last, x.EventID = at, id
		changed = true
	}
	if at.Before(x.First) {
		x.First = at
		changed = true
	}
	for _, f := range d.Fields {
		if !slices.Contains(x.Fields, f) {
			x.Fields = append(x.Fields, f)
			changed = true
		}
	}
	slices.Sort(x.Fields)
	return changed
}

// bound drops the least recently viewed entries until the summary holds at
// most MaxDisclosureEntries entries and MaxDisclosureBytes bytes (the
// newest entry is always kept).
func (s *Disclosures) bound() {
	for len(s.Entries) > 1 && (len(s.Entries) > MaxDisclosureEntries || s.size() > MaxDisclosureBytes) {
		oldest := 0
		for i, x := range s.Entries {
			if x.Last.Before(s.Entries[oldest].Last) {
				oldest = i
			}
		}
		x := s.Entries[oldest]
		s.Dropped += x.Count
		if x.Last.After(s.DroppedUpTo) {
			s.DroppedUpTo = x.Last
		}
		s.Entries = slices.Delete(s.Entries, oldest, oldest+1)
	}
}

func (s *Disclosures) size() int {
	raw, _ := json.Marshal(s)
	return len(raw)
}

// decodeDisclosures reads the bucket's value: the summary, or the list of
// every disclosure that earlier versions kept (folded into a summary).
func decodeDisclosures(raw []byte) (Disclosures, error) {
	var s Disclosures
	if len(raw) == 0 {
		return s, nil
	}
	if raw[0] != '[' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return s, fmt.Errorf("decode disclosures: %w", err)
		}
		return s, nil
	}
	var old []struct {
		EventID string        `json:"eventId"`
		Viewer  string        `json:"viewer"`
		Agency  events.Agency `json:"agency"`
		Purpose string        `json:"purpose"`
		Fields  []string      `json:"fields"`
		Time    time.Time     `json:"time"`
	}
	if err := json.Unmarshal(raw, &old); err != nil {
		return s, fmt.Errorf("decode disclosures (list of %d bytes): %w", len(raw), err)
	}
	for _, d := range old {
		s.fold(d.EventID, d.Time, events.RecordDisclosed{Viewer: d.Viewer, Agency: d.Agency, Purpose: d.Purpose, Fields: d.Fields})
	}
	return s, nil
}

// storedIDs remembers the ids of the last disclosures this record has had
// acknowledged (stored, or dropped as a repeat of one stored): identical
// reads within a DisclosureWindow are one disclosure, so a repeat need not
// go to the server. Bounded: about 5 MB.
type storedIDs struct{ ids *fifo.Map[string, struct{}] }

const storedIDsKept = 65536

func newStoredIDs() storedIDs { return storedIDs{fifo.New[string, struct{}](storedIDsKept)} }

func (s storedIDs) has(id string) bool { _, ok := s.ids.Get(id); return ok }

func (s storedIDs) add(id string) { s.ids.Put(id, struct{}{}) }
