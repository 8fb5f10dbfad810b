package reports

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/gob"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/crisisbus/crisisbus/events"
)

// A snapshot is the projection's whole state and the stream sequence it
// holds through, saved by the report page's Service so that `crisisbus
// report` reads only the events stored after it. It holds exactly what the
// projection holds: the counts by month, the ids of the events counted (16
// bytes each, to count an event loaded twice once), the per-episode facts a
// later event can still change (one record per episode with a detention,
// follow-up, haven visit or police contact), and the messages it could not read. Nothing
// else grows with the stream.

// snapshotRules is bumped when what the projection counts changes outside
// the files hashed into Version (the law's rules, say): a snapshot saved
// under other rules is never read.
const snapshotRules = 2

// ruleFiles are the sources whose every byte decides what a snapshot
// holds: a snapshot saved by a build with any other text of them is
// another version, never read, so a change to the counting can never be
// answered from a snapshot counted the old way.
//
//go:embed projection.go detention.go decode.go month.go snapshot.go
var ruleFiles embed.FS

// Version names the projection's rules and the snapshot's layout.
var Version = func() string {
	h := sha256.New()
	fmt.Fprintf(h, "rules %d\n", snapshotRules)
	for _, name := range []string{"projection.go", "detention.go", "decode.go", "month.go", "snapshot.go"} {
		b, err := fs.ReadFile(ruleFiles, name)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}()

// snapshotMagic opens every snapshot.
const snapshotMagic = "crisisbus reports snapshot\n"

// snapshot is the projection's state as saved. Maps keyed by structs or
// pointers are flattened into lists.
type snapshot struct {
	Version string
	// Stream identifies the stream counted: its creation time and its
	// first sequence when the projection began (a snapshot of another
	// stream, or of events since removed from it, is never read).
	StreamCreated time.Time
	FirstSeq      uint64
	Last          uint64
	Applied       int
	Duplicates    int
	Skipped       []Skip
	IDs           []byte // 16 bytes an event counted

	S136      map[Month]map[string]int
	Referrals map[Month]int
	Avoided   map[Month]int
	Detention map[Month]snapDetention
	Delays    map[Month]map[string]int
	Followup  map[Month][4]int
	Places    map[Month]map[events.PlaceType]int
	Under18   map[Month]int
	U18Police map[Month]int
	Forbidden map[Month]int
	Cells     map[Month]map[string]int
	Havens    []snapHaven
	Contacts  map[Month][contactRows]int
	// EpisodeIDs are the episodes' ids, 16 bytes each, in the order of
	// Episodes.
	EpisodeIDs []byte
	Episodes   []snapEpisode
}

type snapDetention struct {
	Durations            []time.Duration
	Extensions, Breaches int
}

type snapHaven struct {
	Month       Month
	Haven, What string
	N           int
}

type snapEpisode struct {
	Dets       []snapDet
	Counted    []snapDetCount
	Age        int
	Arrivals   []snapArrival
	Contacted  snapFirst
	Completed  snapFirst
	Escalated  snapFirst
	Haven      string
	HavenLefts []snapHavenOut
	Contact    snapContact
}

type snapContact struct {
	PoliceAt                time.Time
	Detained, Haven, Triage bool
	Counted                 bool
	Month                   Month
	Row                     int
	Referrals, Accepts      []string
}

type snapDet struct {
	At                 time.Time
	Kind               detKind
	Kept               bool
	Place              events.PlaceType
	Hours              int
	Reasoned, Approved bool
}

type snapDetCount struct {
	Extended        bool
	ExtMonth        Month
	Ended, Measured bool
	Dur             time.Duration
	Month           Month
	Breached        bool
	BreachMonth     Month
	Due             time.Time
}

type snapArrival struct {
	Month     Month
	Police    bool
	Place     events.PlaceType
	Cond      *events.PoliceStationConditions
	Forbidden bool
}

type snapFirst struct {
	Set bool
	At  time.Time
}

type snapHavenOut struct {
	Month   Month
	Outcome string
}

// encodeSnapshot writes the projection's state, with the stream it counts
// (created at created, first sequence first): the magic line, the
// version, a SHA-256 of the body and the body. It copies the state at Last
// under the projection's read lock and encodes the copy after letting go
// of it: encoding a million events' state takes seconds, and meanwhile the
// projection applies new events and the reports page reads its tables
// (which waited for the whole encoding before).
func (p *Projection) encodeSnapshot(created time.Time, first uint64) ([]byte, uint64, error) {
	p.mu.RLock()
	s := snapshot{Version: Version, StreamCreated: created, FirstSeq: first, Last: p.last,
		Applied: p.applied, Duplicates: p.duplicates, Skipped: slices.Clone(p.skipped),
		S136: cloneNested(p.s136), Referrals: maps.Clone(p.referrals), Avoided: maps.Clone(p.avoided), Delays: cloneNested(p.delays),
		Places: cloneNested(p.places), Under18: maps.Clone(p.under18), U18Police: maps.Clone(p.u18Police), Forbidden: maps.Clone(p.forbidden), Cells: cloneNested(p.cells),
		Detention: make(map[Month]snapDetention, len(p.detention)), Followup: make(map[Month][4]int, len(p.followup)),
		Contacts: make(map[Month][contactRows]int, len(p.contacts)),
		IDs:      make([]byte, 0, 16*len(p.ids)), EpisodeIDs: make([]byte, 0, 16*len(p.episodes)),
		Episodes: make([]snapEpisode, 0, len(p.episodes)),
	}
	for id := range p.ids {
		s.IDs = append(s.IDs, id[:]...)
	}
	for m, d := range p.detention {
		s.Detention[m] = snapDetention{Durations: slices.Clone(d.durations), Extensions: d.extensions, Breaches: d.breaches}
	}
	for m, f := range p.followup {
		s.Followup[m] = *f
	}
	for m, c := range p.contacts {
		s.Contacts[m] = *c
	}
	for m, row := range p.havens {
		for k, n := range row {
			s.Havens = append(s.Havens, snapHaven{Month: m, Haven: k.haven, What: k.what, N: n})
		}
	}
	for id, ep := range p.episodes {
		s.EpisodeIDs = append(s.EpisodeIDs, id[:]...)
		e := snapEpisode{Age: ep.age,
			Contacted: snapFirst{ep.contacted.set, ep.contacted.at}, Completed: snapFirst{ep.completed.set, ep.completed.at},
			Escalated: snapFirst{ep.escalated.set, ep.escalated.at}, Haven: ep.haven,
			Contact: snapContact{PoliceAt: ep.contact.policeAt, Detained: ep.contact.detained, Haven: ep.contact.haven, Triage: ep.contact.triage,
				Counted: ep.contact.counted, Month: ep.contact.month, Row: ep.contact.row, Referrals: slices.Clone(ep.contact.referrals), Accepts: slices.Clone(ep.contact.accepts)}}
		for _, f := range ep.dets {
			e.Dets = append(e.Dets, snapDet{At: f.at, Kind: f.kind, Kept: f.kept, Place: f.place, Hours: f.hours, Reasoned: f.reasoned, Approved: f.approved})
		}
		for _, c := range ep.counted {
			e.Counted = append(e.Counted, snapDetCount{Extended: c.extended, ExtMonth: c.extMonth, Ended: c.ended, Measured: c.measured,
				Dur: c.dur, Month: c.month, Breached: c.breached, BreachMonth: c.breachMonth, Due: c.due})
		}
		for _, a := range ep.arrivals {
			e.Arrivals = append(e.Arrivals, snapArrival{Month: a.month, Police: a.police, Place: a.place, Cond: a.cond, Forbidden: a.forbidden})
		}
		for _, l := range ep.havenLefts {
			e.HavenLefts = append(e.HavenLefts, snapHavenOut{l.month, l.outcome})
		}
		s.Episodes = append(s.Episodes, e)
	}
	p.mu.RUnlock()
	var body bytes.Buffer
	if err := gob.NewEncoder(&body).Encode(&s); err != nil {
		return nil, 0, fmt.Errorf("encode reports snapshot: %w", err)
	}
	sum := sha256.Sum256(body.Bytes())
	out := make([]byte, 0, len(snapshotMagic)+len(Version)+1+8+len(sum)+body.Len())
	out = append(out, snapshotMagic...)
	out = append(out, Version...)
	out = append(out, '\n')
	out = binary.BigEndian.AppendUint64(out, s.Last)
	out = append(out, sum[:]...)
	out = append(out, body.Bytes()...)
	return out, s.Last, nil
}

// errOtherVersion is a snapshot saved under other rules.
var errOtherVersion = errors.New("saved by another version of the reports")

// decodeSnapshot reads a snapshot written by encodeSnapshot into a new
// projection. Anything that does not read back exactly (another version,
// damaged bytes, a state that contradicts itself) is an error: the
// caller rebuilds from the stream rather than answer from it.
func decodeSnapshot(raw []byte) (*Projection, *snapshot, error) {
	head := len(snapshotMagic) + len(Version) + 1
	if len(raw) < head+8+sha256.Size || string(raw[:len(snapshotMagic)]) != snapshotMagic {
		return nil, nil, errors.New("not a reports snapshot (no header)")
	}
	if v := raw[len(snapshotMagic) : head-1]; string(v) != Version || raw[head-1] != '\n' {
		return nil, nil, fmt.Errorf("%w (%.16q, this is %s)", errOtherVersion, v, Version)
	}
	last := binary.BigEndian.Uint64(raw[head:])
	sum, body := raw[head+8:head+8+sha256.Size], raw[head+8+sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, nil, errors.New("damaged: its checksum does not match its contents")
	}
	var s snapshot
	if err := gob.NewDecoder(bytes.NewReader(body)).Decode(&s); err != nil {
		return nil, nil, fmt.Errorf("damaged: %w", err)
	}
	switch {
	case s.Version != Version:
		return nil, nil, fmt.Errorf("%w (%s, this is %s)", errOtherVersion, s.Version, Version)
	case s.Last != last:
		return nil, nil, fmt.Errorf("damaged: its header says sequence %d, its body %d", last, s.Last)
	case len(s.IDs)%16 != 0 || len(s.IDs)/16 != s.Applied:
		return nil, nil, fmt.Errorf("damaged: %d bytes of event ids for %d events counted", len(s.IDs), s.Applied)
	case len(s.EpisodeIDs) != 16*len(s.Episodes):
		return nil, nil, fmt.Errorf("damaged: %d bytes of episode ids for %d episodes", len(s.EpisodeIDs), len(s.Episodes))
	}
	p := newProjection(s.Applied)
	p.last, p.applied, p.duplicates, p.skipped = s.Last, s.Applied, s.Duplicates, s.Skipped
	for i := 0; i < len(s.IDs); i += 16 {
		p.ids[uuid.UUID(s.IDs[i:i+16])] = struct{}{}
	}
	if len(p.ids) != s.Applied {
		return nil, nil, fmt.Errorf("damaged: %d distinct event ids for %d events counted", len(p.ids), s.Applied)
	}
	// gob leaves an empty map nil; the projection writes to every map.
	p.s136 = orEmpty(s.S136)
	p.referrals, p.avoided = orEmpty(s.Referrals), orEmpty(s.Avoided)
	p.delays, p.places = orEmpty(s.Delays), orEmpty(s.Places)
	p.under18, p.u18Police, p.forbidden = orEmpty(s.Under18), orEmpty(s.U18Police), orEmpty(s.Forbidden)
	p.cells = orEmpty(s.Cells)
	for m, d := range s.Detention {
		p.detention[m] = &detentionMonth{durations: slices.Clip(d.Durations), extensions: d.Extensions, breaches: d.Breaches}
	}
	for m, f := range s.Followup {
		p.followup[m] = &f
	}
	for m, c := range s.Contacts {
		p.contacts[m] = &c
	}
	for _, h := range s.Havens {
		row := p.havens[h.Month]
		if row == nil {
			row = map[havenCount]int{}
			p.havens[h.Month] = row
		}
		row[havenCount{h.Haven, h.What}] = h.N
	}
	p.episodes = make(map[uuid.UUID]*episodeState, len(s.Episodes))
	for i, e := range s.Episodes {
		ep := &episodeState{age: e.Age,
			contacted: first{e.Contacted.Set, e.Contacted.At}, completed: first{e.Completed.Set, e.Completed.At},
			escalated: first{e.Escalated.Set, e.Escalated.At}, haven: e.Haven,
			contact: contactState{policeAt: e.Contact.PoliceAt, detained: e.Contact.Detained, haven: e.Contact.Haven, triage: e.Contact.Triage,
				counted: e.Contact.Counted, month: e.Contact.Month, row: e.Contact.Row, referrals: e.Contact.Referrals, accepts: e.Contact.Accepts}}
		if c := ep.contact; c.counted && (c.row < 0 || c.row >= contactRows) {
			return nil, nil, fmt.Errorf("damaged: a police contact counted in row %d of %d", c.row, contactRows)
		}
		for _, f := range e.Dets {
			ep.dets = append(ep.dets, detFact{at: f.At, kind: f.Kind, kept: f.Kept, place: f.Place, hours: f.Hours, reasoned: f.Reasoned, approved: f.Approved})
		}
		for _, c := range e.Counted {
			ep.counted = append(ep.counted, detCount{extended: c.Extended, extMonth: c.ExtMonth, ended: c.Ended, measured: c.Measured,
				dur: c.Dur, month: c.Month, breached: c.Breached, breachMonth: c.BreachMonth, due: c.Due})
		}
		for _, a := range e.Arrivals {
			ep.arrivals = append(ep.arrivals, &arrival{month: a.Month, police: a.Police, place: a.Place, cond: a.Cond, forbidden: a.Forbidden})
		}
		for _, l := range e.HavenLefts {
			ep.havenLefts = append(ep.havenLefts, havenOut{l.Month, l.Outcome})
		}
		p.episodes[uuid.UUID(s.EpisodeIDs[16*i:16*i+16])] = ep
		// countDetentions keeps open every episode with a detention not ended.
		for _, c := range ep.counted {
			if !c.ended {
				p.open[ep] = struct{}{}
			}
		}
	}
	if len(p.episodes) != len(s.Episodes) {
		return nil, nil, fmt.Errorf("damaged: %d distinct episodes of %d", len(p.episodes), len(s.Episodes))
	}
	return p, &s, nil
}

func orEmpty[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// take makes p hold q's state (q is not used after).
func (p *Projection) take(q *Projection) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last, p.applied, p.skipped, p.ids, p.duplicates = q.last, q.applied, q.skipped, q.ids, q.duplicates
	p.s136, p.referrals, p.avoided, p.detention, p.delays = q.s136, q.referrals, q.avoided, q.detention, q.delays
	p.followup, p.places, p.under18, p.u18Police, p.forbidden = q.followup, q.places, q.under18, q.u18Police, q.forbidden
	p.cells, p.havens, p.episodes, p.open = q.cells, q.havens, q.episodes, q.open
	p.contacts = q.contacts
}

// cloneNested copies a map of maps, so the copy shares nothing with it.
func cloneNested[K, L comparable, V any](m map[K]map[L]V) map[K]map[L]V {
	out := make(map[K]map[L]V, len(m))
	for k, inner := range m {
		out[k] = maps.Clone(inner)
	}
	return out
}
