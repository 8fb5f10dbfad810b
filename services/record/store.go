package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/fifo"
)

// Key-value buckets of the episode record. They are projections: delete them
// and replay the stream (Rebuild) and the same views come back.
// The admin provisions them (rights.Provision); only the record's user may
// read or write them.
const (
	ViewsBucket       = rights.EpisodesBucket    // episode id → View
	DisclosuresBucket = rights.DisclosuresBucket // episode id → Disclosures, a bounded summary
	PeopleBucket      = rights.PeopleBucket      // person key + episode id → when it opened, for matching and search
)

// Store holds the projected views. Every write is optimistic: it states the
// revision it read, and on a conflict (another instance of the record
// consuming the same durable) it reads again and re-applies.
type Store struct {
	views, disclosures, people jetstream.KeyValue
	nc                         *nats.Conn // for direct reads of the person index
	// worklists, while the record runs, holds each agency's work items
	// (see watchWorklists); nil otherwise.
	worklists atomic.Pointer[worklists]
	// kept are the views this store wrote lately (updateView); one kept
	// in another epoch than keptEpoch is forgotten (forgetKept).
	kept      *fifo.Map[string, *keptView]
	keptEpoch atomic.Uint64
}

// keptView is a view this store wrote last, decoded, with the revision it
// was written at: the episode's next event is folded into it and written
// on that revision, with no read and nothing decoded (a fifty-fact view
// took a read and about a third of a millisecond to decode, for every
// event). A write refused because the revision moved on (another instance
// of the record, a catch-up, a rebuild) drops it, and the view is read as
// stored.
type keptView struct {
	mu    sync.Mutex
	rev   uint64 // 0: nothing kept
	epoch uint64 // the store's keptEpoch when it was kept
	v     episode.View
}

// forgetKept drops every kept view: the bucket may no longer hold what this
// store wrote (a server that lost its newest writes), so each view is read
// as stored at its next write.
func (s *Store) forgetKept() { s.keptEpoch.Add(1) }

// keptViews bounds the views kept: the episodes being worked on now.
const keptViews = 256

// OpenStore opens the record's buckets, which the admin provisioned.
func OpenStore(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	s := &Store{nc: js.Conn(), kept: fifo.New[string, *keptView](keptViews)}
	var err error
	if s.views, err = rights.OpenBucket(ctx, js, ViewsBucket); err != nil {
		return nil, err
	}
	if s.disclosures, err = rights.OpenBucket(ctx, js, DisclosuresBucket); err != nil {
		return nil, err
	}
	if s.people, err = rights.OpenBucket(ctx, js, PeopleBucket); err != nil {
		return nil, err
	}
	return s, nil
}

// Get returns the view of an episode and its revision; ok is false if the
// record has no event of it.
func (s *Store) Get(ctx context.Context, id string) (v episode.View, rev uint64, ok bool, err error) {
	if err := events.CheckID("episode", id); err != nil {
		return episode.View{}, 0, false, err
	}
	ent, err := s.views.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return episode.New(id), 0, false, nil
	}
	if err != nil {
		return episode.View{}, 0, false, fmt.Errorf("read view %s: %w", id, err)
	}
	if err := json.Unmarshal(ent.Value(), &v); err != nil {
		return episode.View{}, 0, false, fmt.Errorf("decode view %s: %w", id, err)
	}
	return v, ent.Revision(), true, nil
}

// Disclosures returns who saw the episode's record, summarised (see
// Disclosures).
func (s *Store) Disclosures(ctx context.Context, id string) (Disclosures, error) {
	if err := events.CheckID("episode", id); err != nil {
		return Disclosures{}, err
	}
	ent, err := s.disclosures.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Disclosures{}, nil
	}
	if err != nil {
		return Disclosures{}, fmt.Errorf("read disclosures of %s: %w", id, err)
	}
	return decodeDisclosures(ent.Value())
}

// Apply folds one event into the store, idempotently. An event that is
// not about an episode (a place's update) writes nothing: no view is made
// for its subject.
func (s *Store) Apply(ctx context.Context, e events.Event) error {
	if e.Type == typeDisclosed {
		return s.disclose(ctx, e)
	}
	if !episode.OnTimeline(e) {
		return nil
	}
	var (
		index  bool
		person episode.Person
		opened time.Time
	)
	err := s.updateView(ctx, e.Subject, func(v *episode.View, isNew bool) (bool, error) {
		index = false
		changed, err := v.Apply(e)
		if err != nil || !changed {
			return false, err
		}
		// A new episode: its reference is indexed; a person identified: their keys.
		index = isNew || e.Type == episode.TypeOf(&events.PersonIdentified{})
		person, opened = v.Person, v.OpenedAt
		return true, nil
	})
	if err != nil || !index {
		return err
	}
	return s.indexPerson(ctx, e.Subject, person, opened)
}

// updateView folds into an episode's view (fold says whether it changed
// it) and writes it: into the view kept from this store's last write of
// it when there is one, else into the view as stored. fold may be called
// more than once, each time on a view as it then stands.
func (s *Store) updateView(ctx context.Context, id string, fold func(v *episode.View, isNew bool) (bool, error)) error {
	k := s.kept.GetOrAdd(id, func() *keptView { return new(keptView) })
	k.mu.Lock()
	defer k.mu.Unlock()
	epoch := s.keptEpoch.Load()
	if k.rev > 0 && k.epoch == epoch {
		changed, err := fold(&k.v, false)
		if err == nil && !changed {
			return nil
		}
		if err == nil {
			if raw, err := json.Marshal(k.v); err == nil {
				s.writing(id, raw, &k.v)
				if rev, err := s.views.Update(ctx, id, raw, k.rev); err == nil {
					k.rev = rev
					return nil
				}
			}
		}
		// Not written (or fold failed): the view as stored decides.
		k.rev, k.v = 0, episode.View{}
	}
	var next episode.View
	rev, err := s.updateRev(ctx, s.views, id, func(raw []byte) ([]byte, error) {
		v := episode.New(id)
		if raw != nil {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, err
			}
		}
		changed, err := fold(&v, raw == nil)
		if err != nil || !changed {
			return nil, err
		}
		next = v
		out, err := json.Marshal(v)
		if err == nil {
			s.writing(id, out, &v)
		}
		return out, err
	})
	if err == nil && rev > 0 {
		k.rev, k.epoch, k.v = rev, epoch, next
	}
	return err
}

var typeDisclosed = episode.TypeOf(&events.RecordDisclosed{})

// indexPerson files the episode under each key of its person (PersonKeys),
// for matching, and under its search keys (SearchKeys: its reference and
// each word of the person's names), for the agencies' search. Each key
// holds one entry per episode ("name.sam.<episode id>", valued with when
// the episode opened), written once: a common name is many small keys read
// a bounded number at a time, never one value that grows with every
// episode filed under it and is written again whole each time.
func (s *Store) indexPerson(ctx context.Context, id string, person episode.Person, opened time.Time) error {
	value := []byte(opened.UTC().Format(time.RFC3339Nano))
	for _, k := range append(PersonKeys(person), SearchKeys(id, person)...) {
		if _, err := s.people.Create(ctx, k+"."+id, value); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("index episode %s under %s: %w", id, keyKind(k), err)
		}
	}
	return nil
}

// filed is an episode found under an index key and when it opened.
type filed struct {
	episode string
	opened  time.Time
}

// maxFiled bounds how many episodes one index key is read for: a search
// for a name that more have (every "Sam" in years of episodes) reads this
// many, the first filed, and says there are more.
const maxFiled = 2000

// filedUnder lists the episodes filed under index key k, at most maxFiled;
// more says that others are filed there too.
func (s *Store) filedUnder(ctx context.Context, k string) (eps []filed, more bool, err error) {
	more, err = natsbus.ReadKeys(ctx, s.nc, PeopleBucket, k+".*", maxFiled, func(key string, value []byte) error {
		opened, _ := time.Parse(time.RFC3339Nano, string(value))
		eps = append(eps, filed{episode: key[strings.LastIndexByte(key, '.')+1:], opened: opened})
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read the person index under %s: %w", keyKind(k), err)
	}
	return eps, more, nil
}

func (s *Store) disclose(ctx context.Context, e events.Event) error {
	var d events.RecordDisclosed
	if err := e.DecodeInto(&d); err != nil {
		return err
	}
	return s.update(ctx, s.disclosures, e.Subject, func(raw []byte) ([]byte, error) {
		sum, err := decodeDisclosures(raw)
		if err != nil {
			return nil, err
		}
		if !sum.fold(e.ID, e.Time, d) && len(raw) > 0 && raw[0] != '[' {
			return nil, nil
		}
		return json.Marshal(sum)
	})
}

// Matches returns the other episodes that share a person key with this one.
func (s *Store) Matches(ctx context.Context, ep string) ([]Match, error) {
	v, _, ok, err := s.Get(ctx, ep)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w %s", episode.ErrUnknownEpisode, ep)
	}
	byEp := map[string][]string{}
	var order []string
	for _, k := range PersonKeys(v.Person) {
		found, _, err := s.filedUnder(ctx, k)
		if err != nil {
			return nil, err
		}
		for _, f := range found {
			id := f.episode
			if id == ep || slices.ContainsFunc(v.Links, func(l episode.Link) bool { return l.OtherEpisode == id }) {
				continue
			}
			if _, seen := byEp[id]; !seen {
				order = append(order, id)
			}
			byEp[id] = append(byEp[id], keyKind(k))
		}
	}
	out := []Match{}
	for _, id := range order {
		out = append(out, Match{Episode: id, MatchedOn: byEp[id]})
	}
	return out, nil
}

// Match is another episode that may be the same person.
type Match struct {
	Episode   string   `json:"episode"`
	MatchedOn []string `json:"matchedOn"` // nhs_number, name_and_date_of_birth, phone_number
}

// PersonKeys are the keys two episodes of one person share: the NHS number,
// the name with the date of birth, the phone number.
func PersonKeys(p episode.Person) []string {
	var keys []string
	if p.NHSNumber != "" {
		keys = append(keys, "nhs_number."+p.NHSNumber)
	}
	if p.FamilyName != "" && p.DateOfBirth != "" {
		keys = append(keys, "name_and_date_of_birth."+keyPart(p.FamilyName)+"."+keyPart(p.GivenName)+"."+keyPart(p.DateOfBirth))
	}
	if p.Phone != "" {
		keys = append(keys, "phone_number."+keyPart(p.Phone))
	}
	return keys
}

func keyKind(k string) string { kind, _, _ := strings.Cut(k, "."); return kind }

func keyPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// validKey says whether k can be an episode's key (events.CheckID).
func validKey(k string) bool { return events.CheckID("episode", k) == nil }

// update reads key, lets f compute its new value (nil: no change) and
// writes it on the revision read, retrying when someone else wrote first.
func (s *Store) update(ctx context.Context, kv jetstream.KeyValue, key string, f func(raw []byte) ([]byte, error)) error {
	_, err := s.updateRev(ctx, kv, key, f)
	return err
}

// writing tells the worklists' watcher, if it runs, of a view about to be
// written (worklists.writing).
func (s *Store) writing(id string, raw []byte, v *episode.View) {
	if w := s.worklists.Load(); w != nil {
		w.writing(id, raw, v)
	}
}

// updateRev is update, returning the revision written (0: none).
func (s *Store) updateRev(ctx context.Context, kv jetstream.KeyValue, key string, f func(raw []byte) ([]byte, error)) (uint64, error) {
	for attempt := 0; attempt < 20; attempt++ {
		var raw []byte
		var rev uint64
		ent, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			raw, rev = ent.Value(), ent.Revision()
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		default:
			return 0, fmt.Errorf("read %s: %w", key, err)
		}
		next, err := f(raw)
		if err != nil {
			return 0, fmt.Errorf("apply to %s: %w", key, err)
		}
		if next == nil {
			return 0, nil
		}
		if rev == 0 {
			rev, err = kv.Create(ctx, key, next)
		} else {
			rev, err = kv.Update(ctx, key, next, rev)
		}
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongLastSeq(err) {
			return 0, fmt.Errorf("write %s: %w", key, err)
		}
	}
	return 0, fmt.Errorf("write %s: too many concurrent updates", key)
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Load rebuilds an episode's view by replaying its timeline from the stream,
// and returns the stream sequence of its last event, for a publish that must
// not race with another (natsbus.ExpectEpisodeSeq). It is always current,
// unlike the projection, which follows the stream a moment behind. A stored
// message that is not a usable event is skipped and listed in
// View.Unreadable (and dead-lettered), so it never blocks the episode.
func Load(ctx context.Context, bus *natsbus.Bus, id string) (episode.View, uint64, error) {
	if err := events.CheckID("episode", id); err != nil {
		return episode.View{}, 0, err
	}
	var e freshEpisode
	err := e.readWhole(ctx, bus, id)
	return e.v, e.seq, err
}

// Rebuild empties the record's buckets and deletes its durable consumer, so
// the next Start replays the whole stream into fresh views.
func Rebuild(ctx context.Context, js jetstream.JetStream) error {
	if err := js.DeleteConsumer(ctx, natsbus.Stream, Durable); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer %s: %w", Durable, err)
	}
	s, err := OpenStore(ctx, js)
	if err != nil {
		return err
	}
	for _, kv := range []jetstream.KeyValue{s.views, s.disclosures, s.people} {
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			return err
		}
		for k := range keys.Keys() {
			if err := kv.Delete(ctx, k); err != nil {
				return fmt.Errorf("delete %s: %w", k, err)
			}
		}
	}
	return nil
}
