package episode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/crisisbus/crisisbus/events"
)

// Who sees what (the Caldicott principles: the minimum necessary, and the
// duty to share for care as strong as the duty to protect). Each agency has
// an allowlist of view fields: a field not listed is not shown, so a field
// added to View later is hidden until someone decides who needs it.
//
// Police see risk, who to contact, the known plan and the legal status, the
// timeline and the decisions, never clinical content. The health and care
// agencies (ambulance, SPoA, AMHP, helpline) see the clinical record too.
// The safe haven, a voluntary-sector provider, sees it only in an episode
// where a health agency recorded the person's consent (View.ClinicalTo),
// and no longer once they withdraw it; the haven cannot record that
// consent itself.

// shared is what every pathway agency sees.
var shared = []string{
	"episode", "opened", "openedAt", "openedBy", "channel", "location", "callSummary", "references",
	"person", "ownWords", "communicationNeeds", "language", "crisisPlan", "whoToContact",
	"owner", "closed", "closedReason", "legalStatus", "consultation", "s136", "assessment", "followUp", "haven", "notes", "consents",
	"handoffs", "risks", "decisions", "clocks", "links", "timeline", "conflicts",
	"unreadable", "alerts", "traceId",
}

// ClinicalFields are the view fields that hold clinical content.
var ClinicalFields = []string{"clinical"}

// allow is each pathway agency's allowlist: what every agency sees, and
// the clinical record for a health agency (events.AgencyInfo.Health).
var allow = func() map[events.Agency][]string {
	out := map[events.Agency][]string{}
	for _, a := range events.Agencies {
		out[a] = slices.Clone(shared)
		if a.Health() {
			out[a] = append(out[a], ClinicalFields...)
		}
	}
	return out
}()

// Allowlist returns the fields agency a may see.
func Allowlist(a events.Agency) ([]string, error) {
	f, ok := allow[a]
	if !ok {
		return nil, fmt.Errorf("%s has no view of the episode record (want one of %v)", a, events.Agencies)
	}
	return slices.Clone(f), nil
}

// SeesClinical reports whether agency a's view shows the clinical record
// (its allowlist holds the clinical fields). An agency that may not read
// clinical text may not record it either: its service refuses every
// health-only field (schemas.AudienceKeyword), so the text never passes
// through its credentials.
func SeesClinical(a events.Agency) bool {
	f := allow[a]
	return len(f) > 0 && !slices.ContainsFunc(ClinicalFields, func(c string) bool { return !slices.Contains(f, c) })
}

// ForAgencyJSON returns agency a's view of v: the JSON object with only the
// fields on a's allowlist, and the names of every field it holds, for the
// disclosure record. An empty field is listed too (clocks: [], closed:
// false): it is sent, and that a person has no links or no running clock is
// itself something disclosed. It is the document the record sends, made
// without generic values: only the allowlisted fields of the view are
// encoded, each as encoding the whole view would encode it, so deciding a
// command on a long episode costs one encoding of what the agency may see.
// It is where the allowlist is applied.
func ForAgencyJSON(v View, a events.Agency) (json.RawMessage, []string, error) {
	fields, err := Allowlist(a)
	if err != nil {
		return nil, nil, err
	}
	if !SeesClinical(a) && v.ClinicalTo(a) {
		fields = append(fields, ClinicalFields...)
	}
	rv := reflect.ValueOf(v)
	names := make([]string, 0, len(fields))
	// Each value is encoded straight into one buffer kept between calls,
	// and the document is copied out once at its size: a command on a long
	// episode makes one copy of what the agency may see, not one per field
	// and another per growth of the document.
	buf := docBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxKeptDocBuffer {
			docBuffers.Put(buf)
		}
	}()
	buf.Reset()
	enc := json.NewEncoder(buf) // as json.Marshal encodes, with a newline after
	// The keys are View's JSON names, which need no escaping.
	buf.WriteByte('{')
	for _, f := range viewFields { // in the order of their names
		val := rv.Field(f.index)
		if !slices.Contains(fields, f.name) || f.omitted(val) {
			continue
		}
		if len(names) > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('"')
		buf.WriteString(f.name)
		buf.WriteString(`":`)
		if err := enc.Encode(val.Interface()); err != nil {
			return nil, nil, fmt.Errorf("encode %s: %w", f.name, err)
		}
		buf.Truncate(buf.Len() - 1) // the newline
		names = append(names, f.name)
	}
	buf.WriteByte('}')
	return bytes.Clone(buf.Bytes()), names, nil
}

// docBuffers are the buffers agencies' documents are written in.
var docBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxKeptDocBuffer bounds a buffer kept for the next document: one grown
// by an unusually long episode is let go.
const maxKeptDocBuffer = 1 << 20

// viewField is one field of View as encoding/json writes it.
type viewField struct {
	name      string
	index     int
	omitEmpty bool
	omitZero  bool
}

// omitted says whether encoding/json leaves the field out of the view's
// document (its omitempty and omitzero options).
func (f viewField) omitted(val reflect.Value) bool {
	if f.omitZero {
		if z, ok := val.Interface().(interface{ IsZero() bool }); ok {
			if z.IsZero() {
				return true
			}
		} else if val.IsZero() {
			return true
		}
	}
	if f.omitEmpty {
		switch val.Kind() {
		case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
			return val.Len() == 0
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
			reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
			return val.IsZero()
		}
	}
	return false
}

// viewFields are View's encoded fields, sorted by name (the order a
// map[string]any is encoded in).
var viewFields = func() []viewField {
	t := reflect.TypeFor[View]()
	var out []viewField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if !sf.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		f := viewField{name: name, index: i}
		for _, o := range strings.Split(opts, ",") {
			f.omitEmpty = f.omitEmpty || o == "omitempty"
			f.omitZero = f.omitZero || o == "omitzero"
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(x, y viewField) int { return strings.Compare(x.name, y.name) })
	return out
}()

// ClinicalLeaks lists the clinical fields present in an agency's view, by
// name, and any clinical note text (from full, the unredacted view) that
// appears anywhere in it. For a police view both must be empty.
func ClinicalLeaks(view map[string]any, full View) []string {
	var leaks []string
	for _, f := range ClinicalFields {
		if _, ok := view[f]; ok {
			leaks = append(leaks, "field "+f)
		}
	}
	raw, _ := json.Marshal(view)
	for _, n := range full.Clinical {
		quoted, _ := json.Marshal(n.Text)
		if strings.Contains(string(raw), strings.Trim(string(quoted), `"`)) {
			leaks = append(leaks, fmt.Sprintf("%s text of event %s", n.Kind, n.EventID))
		}
	}
	return leaks
}

// Who has a part in an episode. An agency has a part in an episode it
// opened, owns, has recorded anything on (but a link: saying two episodes
// are the same person is no part in the other agency's), or has been
// offered or has offered a handoff of; the mental health trust (SPoA) has
// a part in an episode that asks its staff for something (triage advice,
// a street triage nurse, a place of safety: asksTheTrust). A person of an
// agency with no part in it may still need to open it (a police officer
// checking a name that came up), but must say why: the record refuses the
// view, and the state an agency's command decides on, without a reason
// (ViewRequest.Reason, StateRequest.Reason), whoever asks, and records the
// reason as the disclosure's purpose. A fact an agency with no part
// publishes on an opened episode straight to the bus is not applied
// (View.checkProtocol): a password alone never makes an agency a party.

// Parties are the agencies an event makes party to its episode: the
// agency that recorded it, the agency a handoff is offered to, and the
// trust when the event asks its staff for something.
func Parties(e events.Event) []events.Agency {
	var out []events.Agency
	if e.Source.Pathway() && e.Type != linkedType {
		out = append(out, e.Source)
	}
	if e.Type == offeredType {
		var d struct {
			To events.Agency `json:"to"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.To.Pathway() {
			out = append(out, d.To)
		}
	}
	if asksTheTrust[e.Type] && e.Source != events.SPoA {
		out = append(out, events.SPoA)
	}
	return out
}

var (
	linkedType  = TypeOf(&events.EpisodeLinked{})
	offeredType = TypeOf(&events.HandoffOffered{})
	linkedName  = specOf(&events.EpisodeLinked{}).Name
	// asksTheTrust are the facts (by type, and by name on a timeline)
	// that ask the mental health trust's staff for something on the
	// episode: the control-room mental health worker's triage advice,
	// the street triage team's nurse, a health-based place of safety.
	// They answer under the trust's identity (SPoA), on that episode.
	asksTheTrust = func() map[string]bool {
		m := map[string]bool{}
		for _, d := range []any{&events.TriageRequested{}, &events.StreetTriageDispatched{}, &events.PlaceOfSafetyRequested{}} {
			s := specOf(d)
			m[s.Type()], m[s.Name] = true, true
		}
		return m
	}()
)

// specOf is the catalogue entry of a catalogue type (a zero Spec for
// none, which the catalogue tests rule out).
func specOf(data any) events.Spec {
	s, _ := events.SpecOf(data)
	return s
}

// AdvisesOnPoliceCall reports whether the fact data, recorded by agency
// a, is the trust's staff in the police control room advising on a call
// police opened before the trust has any other part in it: the
// control-room mental health worker's triage advice, the street triage
// nurse's outcome. Such a fact makes the trust a party; the trust's
// service reads the episode for it with ControlRoomReason.
func (v *View) AdvisesOnPoliceCall(a events.Agency, data any) bool {
	if a != events.SPoA || v.OpenedBy != events.Police {
		return false
	}
	switch data.(type) {
	case *events.TriageAdviceGiven, *events.StreetTriageOutcome:
		return true
	}
	return false
}

// ControlRoomReason is why the trust's service reads a police call it has
// no part in yet (AdvisesOnPoliceCall), as the disclosure records it.
const ControlRoomReason = "the trust's staff in the police control room, advising on a police call"

// HasPart reports whether agency a has a part in the episode (see above).
func (v *View) HasPart(a events.Agency) bool {
	if v.OpenedBy == a || v.Owner == a {
		return true
	}
	for _, h := range v.Handoffs {
		if h.From == a || h.To == a {
			return true
		}
	}
	return slices.ContainsFunc(v.Timeline, func(e Entry) bool {
		return (e.Agency == a && e.Type != linkedName) || (a == events.SPoA && asksTheTrust[e.Type])
	})
}

// MaxReasonLen bounds the reason given to open an episode with no part in it.
const MaxReasonLen = 150

// NoPartPurpose prefixes the recorded purpose of a view given with a reason.
const NoPartPurpose = "no part in the episode; reason given: "

// NoPartMessage starts the refusal (403) of a view that needs a reason.
const NoPartMessage = "this agency has no part in the episode: say why you need to open it"

// FieldNames are the keys of a JSON object, sorted: the fields a reply
// holds, whatever their values.
func FieldNames(m map[string]any, prefix string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, prefix+k)
	}
	slices.Sort(out)
	return out
}
