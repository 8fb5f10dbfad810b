// Package episode is the crisis episode itself, apart from any transport:
// one view of an episode folded from every event on its timeline, the checks
// of the handoff protocol (one owner, offer, acknowledge, accept or decline),
// and who may see which field. The fold (Apply) is pure, so the same view
// comes from the record's live projection (services/record) and from a
// replay of the stream; the stream is the source of truth. Refusals carry
// their kind (events.Kind), which the edge maps to a status code.
//
// The view keeps clinical content (health history, assessment and follow-up
// notes) in one place, View.Clinical, and every other field is written so
// that it holds none: that is what lets the per-agency allowlists in
// access.go serve police what they need to act safely and nothing clinical.
package episode

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// View is what is known about one crisis episode.
type View struct {
	Episode      string            `json:"episode"`
	Opened       bool              `json:"opened"`
	OpenedAt     time.Time         `json:"openedAt,omitzero"`
	OpenedBy     events.Agency     `json:"openedBy,omitempty"`
	Channel      string            `json:"channel,omitempty"`
	Location     string            `json:"location,omitempty"`
	CallSummary  string            `json:"callSummary,omitempty"`
	References   map[string]string `json:"references,omitempty"` // agency → its own incident or call reference
	Person       Person            `json:"person"`
	OwnWords     string            `json:"ownWords,omitempty"`
	Needs        []string          `json:"communicationNeeds,omitempty"`
	Language     string            `json:"language,omitempty"`
	CrisisPlan   string            `json:"crisisPlan,omitempty"`
	WhoToContact string            `json:"whoToContact,omitempty"`
	// Owner is the one agency responsible for the episode. It changes only
	// when a handoff is accepted from the current owner.
	Owner        events.Agency  `json:"owner,omitempty"`
	Closed       bool           `json:"closed"`
	ClosedReason string         `json:"closedReason,omitempty"`
	LegalStatus  string         `json:"legalStatus"`
	Consultation *Consultation  `json:"consultation,omitempty"` // before s136 (s136(1C))
	S136         *S136          `json:"s136,omitempty"`
	Assessment   *Assessment    `json:"assessment,omitempty"`
	FollowUp     *FollowUp      `json:"followUp,omitempty"`
	Haven        *HavenVisit    `json:"haven,omitempty"` // the latest safe haven visit
	Handoffs     []Handoff      `json:"handoffs"`
	Risks        []RiskNote     `json:"risks"`
	Decisions    []Decision     `json:"decisions"`
	Clocks       []ClockState   `json:"clocks"`
	Links        []Link         `json:"links"`
	Timeline     []Entry        `json:"timeline"`
	Clinical     []ClinicalNote `json:"clinical"`
	// Notes are the plain-language notes of what happens next given to
	// the person: when, by whom, in which wording and how (their text is
	// in the event).
	Notes []NoteGiven `json:"notes,omitempty"`
	// Consents are the person's decisions, as a health agency recorded
	// them, on who outside health and care may see their clinical record
	// (ClinicalTo): the latest for each agency counts.
	Consents []Consent `json:"consents,omitempty"`
	// Conflicts are events the record could not apply because they break
	// the protocol (an acceptance that would make a second owner): kept
	// visible, never applied. Commands refuse these before publishing; only
	// a raw publish can produce one.
	Conflicts []string `json:"conflicts,omitempty"`
	// Unreadable are messages stored on the episode's timeline that are not
	// usable events (not JSON, against the contract): skipped, so one bad
	// message never blocks the episode, but shown, so nobody takes the
	// view for the whole story. Each is in the dead-letter stream too.
	Unreadable []UnreadableFact `json:"unreadable,omitempty"`
	// Alerts are facts on the timeline that the Mental Health Act forbids
	// and a command would have refused: kept, applied, and raised here
	// (alerts.go).
	Alerts []Alert `json:"alerts,omitempty"`
	// TraceID is the episode's trace (W3C Trace Context): that of its first
	// event carrying one. Every command on the episode continues it, so one
	// person's path across the agencies is one trace.
	TraceID string `json:"traceId,omitempty"`
}

// UnreadableFact is a stored message the record could not read.
type UnreadableFact struct {
	Seq    uint64        `json:"seq"`    // where it is on the stream
	Agency events.Agency `json:"agency"` // who stored it (the subject's publisher)
	Reason string        `json:"reason"` // what is wrong with it, naming no value
}

// MarkUnreadable notes a stored message of the episode that could not be
// read. Like Apply it is pure and idempotent; it returns false when the
// view already has it.
func (v *View) MarkUnreadable(u events.Unreadable) bool {
	if u.Episode != v.Episode || slices.ContainsFunc(v.Unreadable, func(f UnreadableFact) bool { return f.Seq == u.Seq }) {
		return false
	}
	reason := u.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	v.Unreadable = append(v.Unreadable, UnreadableFact{Seq: u.Seq, Agency: u.Agency, Reason: strings.ToValidUTF8(reason, "")})
	return true
}

// maxReason bounds the reason kept in the view; the dead letter has it whole.
const maxReason = 300

// Person is who the person is, as far as known.
type Person struct {
	NHSNumber   string `json:"nhsNumber,omitempty"`
	GivenName   string `json:"givenName,omitempty"`
	FamilyName  string `json:"familyName,omitempty"`
	KnownAs     string `json:"knownAs,omitempty"` // the name they go by, or the caller knows them by
	DateOfBirth string `json:"dateOfBirth,omitempty"`
	AgeYears    int    `json:"ageYears,omitempty"` // approximate when no date of birth is known
	Phone       string `json:"phone,omitempty"`
	Description string `json:"description,omitempty"` // how they look, when no name is known
}

// Name is what to call the person, as far as known: their name, else the
// name they go by, else "Person not yet identified".
func (p Person) Name() string {
	name := strings.TrimSpace(p.GivenName + " " + p.FamilyName)
	switch {
	case name != "" && p.KnownAs != "" && p.KnownAs != p.GivenName:
		return name + " (known as " + p.KnownAs + ")"
	case name != "":
		return name
	case p.KnownAs != "":
		return "Known as " + p.KnownAs
	}
	return "Person not yet identified"
}

// Consultation is the officer's consultation of a health professional
// before an s136 decision, or the record that it was not practicable.
type Consultation struct {
	Practicable  bool      `json:"practicable"`
	Professional string    `json:"professional,omitempty"`
	At           time.Time `json:"at"`
}

// S136 is the state of a section 136 detention.
type S136 struct {
	DetainedAt       time.Time                       `json:"detainedAt"`
	LocationType     string                          `json:"locationType"`
	AgeYears         int                             `json:"ageYears"`
	KeptWhereTheyAre bool                            `json:"keptWhereTheyAre"`
	Consulted        bool                            `json:"consulted"`
	PlaceType        events.PlaceType                `json:"placeType,omitempty"`
	PlaceName        string                          `json:"placeName,omitempty"`
	ArrivedAt        time.Time                       `json:"arrivedAt,omitzero"`
	PoliceStation    *events.PoliceStationConditions `json:"policeStation,omitempty"`
	Extensions       []Extension                     `json:"extensions,omitempty"`
	WelfareChecks    int                             `json:"welfareChecks,omitempty"`
	Ended            bool                            `json:"ended"`
	EndedAt          time.Time                       `json:"endedAt,omitzero"`
	EndedBy          string                          `json:"endedBy,omitempty"`
}

// Detention is the detention as the law reads it (package law).
func (s *S136) Detention() law.Detention {
	d := law.Detention{DetainedAt: s.DetainedAt, KeptWhereTheyAre: s.KeptWhereTheyAre, AgeYears: s.AgeYears,
		ArrivedAt: s.ArrivedAt, Place: s.PlaceType}
	for _, x := range s.Extensions {
		d.Extension += time.Duration(x.Hours) * time.Hour
	}
	if s.Ended {
		d.EndedAt = s.EndedAt
	}
	return d
}

// ClockStart is when the s136 permitted period began (s136(2A)): arrival at
// the place of safety, or the decision to keep the person where they are.
// Zero while neither has happened.
func (s *S136) ClockStart() time.Time {
	start, _ := s.Detention().Start()
	return start
}

// DueAt is when the permitted period ends, extension included (s136(2A),
// s136B). ok is false when no period runs.
func (s *S136) DueAt() (time.Time, bool) {
	if s.Ended {
		return time.Time{}, false
	}
	return s.Detention().Expiry()
}

// Extension is one s136B extension.
type Extension struct {
	Hours                  int       `json:"hours"`
	Doctor                 string    `json:"doctor"`
	SuperintendentApproval string    `json:"superintendentApproval,omitempty"`
	ExtendedAt             time.Time `json:"extendedAt"`
}

// Assessment is the MHA assessment, as the AMHP service records it.
type Assessment struct {
	Doctors     []Doctor  `json:"doctors,omitempty"`
	Delays      []string  `json:"delays,omitempty"` // causes, in order
	Outcome     string    `json:"outcome,omitempty"`
	CompletedAt time.Time `json:"completedAt,omitzero"`
}

// Doctor is a doctor allocated to the assessment.
type Doctor struct {
	Name        string `json:"name"`
	S12Approved bool   `json:"s12Approved"`
	Role        string `json:"role"`
}

// FollowUp is the helpline's 4-day follow-up.
type FollowUp struct {
	Scheduled []time.Time `json:"scheduled,omitempty"`
	Attempts  []Attempt   `json:"attempts,omitempty"`
	Escalated bool        `json:"escalated"`
	Completed bool        `json:"completed"`
	Contacts  int         `json:"contactsMade,omitempty"`
}

// Attempt is one follow-up call.
type Attempt struct {
	Number  int         `json:"number"`
	Outcome string      `json:"outcome"`
	Risk    events.Risk `json:"risk,omitempty"`
	At      time.Time   `json:"at"`
}

// HavenVisit is a visit to a safe haven: how the person came, whether the
// haven took them (and if not, why and where to go instead), the support
// given and how it ended. Nothing in it is clinical.
type HavenVisit struct {
	Haven          string    `json:"haven"` // its id in the directory of places
	How            string    `json:"how"`   // walked_in, brought_by_police, referred
	ArrivedAt      time.Time `json:"arrivedAt"`
	Taken          bool      `json:"taken"`
	NotTakenReason string    `json:"notTakenReason,omitempty"`
	Support        []string  `json:"support,omitempty"`
	Plan           string    `json:"plan,omitempty"` // made with the person, in their own words
	Left           bool      `json:"left"`
	LeftAt         time.Time `json:"leftAt,omitzero"`
	Outcome        string    `json:"outcome,omitempty"` // went_home, handed_on, emergency_999
	Detail         string    `json:"detail,omitempty"`
}

// NoteGiven is a note of what happens next given to the person.
type NoteGiven struct {
	At     time.Time     `json:"at"`
	By     events.Agency `json:"by"`
	Actor  string        `json:"actor,omitempty"`
	Format string        `json:"format"` // standard, easy_read or bsl
	How    string        `json:"how"`    // read_out, printed or read_out_and_printed
}

// Consent is the person's decision that an agency outside health and care
// may, or may no longer, see their clinical record in this episode.
type Consent struct {
	At         time.Time     `json:"at"`
	To         events.Agency `json:"to"`
	Decision   string        `json:"decision"` // given or withdrawn
	RecordedBy events.Agency `json:"recordedBy"`
	Actor      string        `json:"actor,omitempty"`
}

// ClinicalTo reports whether the person's latest decision lets agency a,
// outside health and care, see their clinical record.
func (v *View) ClinicalTo(a events.Agency) bool {
	for i := len(v.Consents) - 1; i >= 0; i-- {
		if v.Consents[i].To == a {
			return v.Consents[i].Decision == "given"
		}
	}
	return false
}

// AtHaven reports whether the person is at the haven now: taken in and not left.
func (h *HavenVisit) AtHaven() bool { return h != nil && h.Taken && !h.Left }

// RiskNote is a risk as someone judged it. On a triage request What is
// the question the control room asked for advice on (Asked is set): the
// level is a risk, the question is not.
type RiskNote struct {
	Level  events.Risk   `json:"level,omitempty"`
	What   string        `json:"what"`
	Asked  bool          `json:"asked,omitempty"`
	Agency events.Agency `json:"agency"`
	At     time.Time     `json:"at"`
}

// Decision is a decision an agency owns (Right Care Right Person, street
// triage outcome, conveyance, assessment outcome, routing).
type Decision struct {
	Agency  events.Agency `json:"agency"`
	What    string        `json:"what"`
	At      time.Time     `json:"at"`
	EventID string        `json:"eventId"`
}

// ClockState is the last word of the clock service on one clock.
type ClockState struct {
	Clock    events.ClockKind `json:"clock"`
	Ref      string           `json:"ref"`
	Owner    events.Agency    `json:"owner"`
	DueAt    time.Time        `json:"dueAt"`
	Breached bool             `json:"breached"`
}

// Link is another episode found to be the same person: linked, not merged.
type Link struct {
	OtherEpisode string        `json:"otherEpisode"`
	MatchedOn    []string      `json:"matchedOn"`
	Reason       string        `json:"reason"`
	By           events.Agency `json:"by"`
}

// Entry is one fact on the timeline. Text never holds clinical content.
type Entry struct {
	EventID string        `json:"eventId"`
	Type    string        `json:"type"` // e.g. s136.detained
	Agency  events.Agency `json:"agency"`
	Actor   string        `json:"actor,omitempty"`
	Time    time.Time     `json:"time"`
	Text    string        `json:"text"`
}

// ClinicalNote is clinical content: health agencies see it, police never do.
type ClinicalNote struct {
	EventID string        `json:"eventId"`
	Kind    string        `json:"kind"` // health_history, street_triage_notes, ...
	Agency  events.Agency `json:"agency"`
	Time    time.Time     `json:"time"`
	Text    string        `json:"text"`
}

// New returns the empty view of an episode.
func New(episode string) View {
	return View{Episode: episode, Handoffs: []Handoff{}, Risks: []RiskNote{}, Decisions: []Decision{},
		Clocks: []ClockState{}, Links: []Link{}, Timeline: []Entry{}, Clinical: []ClinicalNote{}}
}

// Has reports whether the event is already in the view (so applying it
// again changes nothing: redelivery after a crash is harmless).
func (v *View) Has(eventID string) bool {
	for i := len(v.Timeline) - 1; i >= 0; i-- {
		if v.Timeline[i].EventID == eventID {
			return true
		}
	}
	return slices.ContainsFunc(v.Conflicts, func(c string) bool { return strings.HasPrefix(c, eventID) })
}

// OnTimeline reports whether an event of this type belongs on the timeline.
// Disclosures are the record's audit of who looked, kept apart (see Store);
// a place's update is about a place, not an episode (its subject is the
// place's id on the bus, places.Subject): the fold ignores it and no view
// is made for it.
func OnTimeline(e events.Event) bool {
	return e.Type != typeDisclosed && e.Type != typePlaceUpdated
}

var (
	typeDisclosed    = TypeOf(&events.RecordDisclosed{})
	typePlaceUpdated = TypeOf(&events.PlaceUpdated{})
)

// TypeOf is the event type of a catalogue data value ("" for none).
func TypeOf(data any) string {
	s, _ := events.SpecOf(data)
	return s.Type()
}

// Apply folds one event into the view. It is pure and idempotent: an event
// already applied changes nothing. It returns false when it changed nothing.
func (v *View) Apply(e events.Event) (bool, error) {
	if e.Subject != v.Episode || !OnTimeline(e) || v.Has(e.ID) {
		return false, nil
	}
	spec, _ := e.Spec()
	data, err := e.Decode()
	if err != nil {
		return false, err
	}
	if tc, ok := e.Trace(); ok && v.TraceID == "" {
		v.TraceID = tc.TraceID
	}
	if err := v.checkProtocol(e, data); err != nil {
		v.Conflicts = append(v.Conflicts, fmt.Sprintf("%s %s by %s not applied: %v", e.ID, spec.Name, e.Source, err))
		return true, nil
	}
	if err := v.lawBroken(data); err != nil {
		v.alert(e, spec.Name, err)
	}
	v.Timeline = append(v.Timeline, Entry{EventID: e.ID, Type: spec.Name, Agency: e.Source, Actor: e.Actor, Time: e.Time, Text: describe(v, e, data)})
	v.fold(e, data)
	return true, nil
}

// checkProtocol refuses events that break the handoff protocol or the
// one-owner rule, and those an agency's commands would have refused that
// its password alone let it publish: a fact on an opened episode it has
// no part in (HasPart), a close by an agency not holding the episode, and
// clinical text from an agency that never records it (SeesClinical).
func (v *View) checkProtocol(e events.Event, data any) error {
	if v.Opened && e.Source.Pathway() {
		if _, link := data.(*events.EpisodeLinked); !link && !v.HasPart(e.Source) && !v.AdvisesOnPoliceCall(e.Source, data) {
			return fmt.Errorf("the %s has no part in the episode: its commands record nothing on it", e.Source.Title())
		}
	}
	if e.Source.Pathway() && !SeesClinical(e.Source) {
		if fields, err := events.ClinicalIn(data); err == nil && len(fields) > 0 {
			return fmt.Errorf("%s is clinical, and the %s never records it", strings.Join(fields, ", "), e.Source.Title())
		}
	}
	switch d := data.(type) {
	case *events.EpisodeClosed:
		if v.Opened {
			return v.CheckClose(e.Source)
		}
	case *events.HandoffOffered:
		if v.Opened {
			return v.CheckOffer(e.Source, d.To, d.Kind)
		}
	case *events.HandoffAcknowledged:
		if h := v.Handoff(d.HandoffID); h != nil && h.State == Acknowledged {
			return nil // a repeated acknowledgement is harmless
		}
		return v.CheckAcknowledge(d.HandoffID, e.Source)
	case *events.HandoffAccepted:
		return v.CheckAccept(d.HandoffID, e.Source)
	case *events.HandoffDeclined:
		return v.CheckDecline(d.HandoffID, e.Source)
	case *events.HandoffCancelled:
		return v.CheckCancel(d.HandoffID, e.Source)
	case *events.HandoffCompleted:
		return v.CheckComplete(d.HandoffID, e.Source)
	}
	return nil
}

func (v *View) clinical(e events.Event, kind, text string) {
	if text != "" {
		v.Clinical = append(v.Clinical, ClinicalNote{EventID: e.ID, Kind: kind, Agency: e.Source, Time: e.Time, Text: text})
	}
}

func (v *View) decide(e events.Event, what string) {
	v.Decisions = append(v.Decisions, Decision{Agency: e.Source, What: what, At: e.Time, EventID: e.ID})
}

func (v *View) fold(e events.Event, data any) {
	switch d := data.(type) {
	case *events.EpisodeOpened:
		if !v.Opened {
			v.Opened, v.OpenedAt, v.OpenedBy, v.Owner = true, e.Time, e.Source, e.Source
			v.Channel, v.Location, v.CallSummary = d.Channel, d.Location, d.Summary
		}
		if d.AgencyReference != "" {
			if v.References == nil {
				v.References = map[string]string{}
			}
			v.References[string(e.Source)] = d.AgencyReference
		}
	case *events.EpisodeLinked:
		v.Links = append(v.Links, Link{OtherEpisode: d.OtherEpisode, MatchedOn: d.MatchedOn, Reason: d.Reason, By: e.Source})
	case *events.EpisodeClosed:
		v.Closed, v.ClosedReason = true, d.Reason
	case *events.PersonIdentified:
		p := &v.Person
		set(&p.NHSNumber, d.NHSNumber)
		set(&p.GivenName, d.GivenName)
		set(&p.FamilyName, d.FamilyName)
		set(&p.KnownAs, d.KnownAs)
		set(&p.DateOfBirth, d.DateOfBirth)
		set(&p.Phone, d.Phone)
		set(&p.Description, d.Description)
		if d.AgeYears > 0 {
			p.AgeYears = d.AgeYears
		}
	case *events.PersonNoteGiven:
		v.Notes = append(v.Notes, NoteGiven{At: e.Time, By: e.Source, Actor: e.Actor, Format: d.Format, How: d.How})
	case *events.ConsentRecorded:
		v.Consents = append(v.Consents, Consent{At: e.Time, To: d.To, Decision: d.Decision, RecordedBy: e.Source, Actor: e.Actor})
	case *events.PersonVoiceRecorded:
		set(&v.OwnWords, d.OwnWords)
		set(&v.Language, d.Language)
		set(&v.CrisisPlan, d.CrisisPlan)
		set(&v.WhoToContact, d.WhoToContact)
		for _, n := range d.CommunicationNeeds {
			if !slices.Contains(v.Needs, n) {
				v.Needs = append(v.Needs, n)
			}
		}
	case *events.TriageRequested:
		v.Risks = append(v.Risks, RiskNote{Level: d.Risk, What: d.Concern, Asked: true, Agency: e.Source, At: e.Time})
	case *events.TriageAdviceGiven:
		v.decide(e, "triage advice: "+d.RecommendedAction)
		v.clinical(e, "health_history", d.HealthHistory)
	case *events.StreetTriageDispatched:
		v.decide(e, "street triage sent: "+d.Team)
	case *events.PlaceOfSafetyRequested:
		what := "place of safety requested"
		if d.PreferredType != "" {
			what += " (preferred: " + strings.ReplaceAll(string(d.PreferredType), "_", " ") + ")"
		}
		v.decide(e, what)
	case *events.StreetTriageOutcome:
		v.decide(e, "street triage: "+d.Outcome+avoided(d.S136Avoided))
		v.clinical(e, "street_triage_notes", d.Notes)
	case *events.RcrpDecided:
		what := "Right Care, Right Person: police do not attend (" + d.Grounds + ")"
		if d.PoliceAttend {
			what = "Right Care, Right Person: police attend (" + d.Grounds + ")"
		}
		v.decide(e, what)
	case *events.AmbulanceCallTriaged:
		v.decide(e, "call triaged: "+d.Response)
		v.clinical(e, "ambulance_triage_notes", d.Notes)
	case *events.AmbulanceConveyance:
		if d.Conveyed {
			v.decide(e, "conveyed to "+d.Destination)
		} else {
			v.decide(e, "not conveyed")
		}
	case *events.HandoffOffered:
		v.Handoffs = append(v.Handoffs, Handoff{ID: d.HandoffID, Kind: d.Kind, From: e.Source, To: d.To, State: Offered,
			Reason: d.Reason, Urgency: d.Urgency, OfferedAt: e.Time, OfferEvent: e.ID, FactsCarried: len(d.Summary.Facts), UpdatedAt: e.Time})
	case *events.HandoffAcknowledged:
		v.transition(d.HandoffID, Acknowledged, e.Time, nil)
	case *events.HandoffAccepted:
		v.transition(d.HandoffID, Accepted, e.Time, func(h *Handoff) {
			h.AcceptedBy = d.AcceptedBy
			v.Owner = h.To
		})
	case *events.HandoffDeclined:
		v.transition(d.HandoffID, Declined, e.Time, func(h *Handoff) { h.DeclineReason, h.DeclineDetail = d.Reason, d.Detail })
	case *events.HandoffCancelled:
		v.transition(d.HandoffID, Cancelled, e.Time, func(h *Handoff) { h.CancelReason = d.Reason })
	case *events.HandoffCompleted:
		v.transition(d.HandoffID, Completed, e.Time, func(h *Handoff) { h.Outcome = d.Outcome })
		if h := v.Handoff(d.HandoffID); h != nil && h.Kind == events.SPoAReferral {
			v.decide(e, "SPoA routed: "+d.Outcome)
		}
	case *events.S136Consulted:
		v.Consultation = &Consultation{Practicable: d.Practicable, Professional: d.Professional, At: e.Time}
	case *events.S136Detained:
		v.S136 = &S136{DetainedAt: d.DetainedAt, LocationType: d.LocationType, AgeYears: d.AgeYears,
			KeptWhereTheyAre: d.KeptWhereTheyAre, Consulted: d.Consulted}
		v.LegalStatus = "detained_s136"
		if v.Person.AgeYears == 0 {
			v.Person.AgeYears = d.AgeYears
		}
	case *events.PlaceOfSafetyAllocated:
		if v.S136 != nil {
			v.S136.PlaceType, v.S136.PlaceName = d.PlaceType, d.PlaceName
		}
	case *events.PlaceOfSafetyArrived:
		if v.S136 != nil {
			v.S136.PlaceType, v.S136.PlaceName, v.S136.PoliceStation = d.PlaceType, d.PlaceName, d.PoliceStation
			// The period runs from the first arrival: a transfer moves the
			// person, not the start (s136(2A), s136(3)). The earliest, as
			// the clock takes it (law.Apply), whatever order they came in.
			if v.S136.ArrivedAt.IsZero() || d.ArrivedAt.Before(v.S136.ArrivedAt) {
				v.S136.ArrivedAt = d.ArrivedAt
			}
		}
	case *events.S136Extended:
		// The period is extended only as the clock extends it (law.Apply):
		// an extension the Act refuses (a second one, one after expiry)
		// is an alert (lawBroken), never a later due time, so the view's
		// time left is the time the clock breaches at.
		if v.S136 != nil {
			if _, err := law.Extend(v.S136.Detention(), law.ExtensionFromEvent(law.ExaminingDoctor, *d)); err == nil {
				v.S136.Extensions = append(v.S136.Extensions, Extension{Hours: d.Hours, Doctor: d.Doctor, SuperintendentApproval: d.SuperintendentApproval, ExtendedAt: d.ExtendedAt})
			}
		}
	case *events.S136WelfareChecked:
		if v.S136 != nil {
			v.S136.WelfareChecks++
		}
	case *events.S136Released:
		if v.S136 != nil && !v.S136.Ended {
			v.S136.Ended, v.S136.EndedAt, v.S136.EndedBy = true, d.ReleasedAt, "released: "+d.Reason
			v.LegalStatus = "released_from_s136"
		}
	case *events.AssessmentDoctorAllocated:
		a := v.assessment()
		a.Doctors = append(a.Doctors, Doctor{Name: d.Doctor, S12Approved: d.S12Approved, Role: d.Role})
	case *events.AssessmentDelayed:
		a := v.assessment()
		a.Delays = append(a.Delays, d.Cause)
	case *events.AssessmentCompleted:
		a := v.assessment()
		a.Outcome, a.CompletedAt = d.Outcome, d.CompletedAt
		v.decide(e, "assessment outcome: "+d.Outcome)
		v.clinical(e, "assessment_notes", d.Notes)
		v.LegalStatus = d.Outcome
		if v.S136 != nil && !v.S136.Ended {
			v.S136.Ended, v.S136.EndedAt, v.S136.EndedBy = true, d.CompletedAt, "assessment completed: "+d.Outcome
		}
	case *events.FollowupContactScheduled:
		f := v.followUp()
		f.Scheduled = append(f.Scheduled, d.DueAt)
	case *events.FollowupContactAttempted:
		f := v.followUp()
		f.Attempts = append(f.Attempts, Attempt{Number: d.ContactNumber, Outcome: d.Outcome, Risk: d.Risk, At: e.Time})
		if d.Outcome == "spoke" {
			f.Contacts++
		}
		if d.Risk != "" {
			v.Risks = append(v.Risks, RiskNote{Level: d.Risk, What: fmt.Sprintf("follow-up call %d", d.ContactNumber), Agency: e.Source, At: e.Time})
		}
		v.clinical(e, "followup_notes", d.Notes)
	case *events.FollowupEscalated:
		f := v.followUp()
		f.Escalated = true
		v.Risks = append(v.Risks, RiskNote{Level: d.Risk, What: "escalated to SPoA: " + d.Reason, Agency: e.Source, At: e.Time})
	case *events.FollowupCompleted:
		f := v.followUp()
		f.Completed = true
		if d.ContactsMade > f.Contacts {
			f.Contacts = d.ContactsMade
		}
	case *events.HavenArrived:
		v.Haven = &HavenVisit{Haven: d.Haven, How: d.How, ArrivedAt: d.ArrivedAt, Taken: d.Taken, NotTakenReason: d.NotTakenReason}
		if d.Taken {
			v.decide(e, "safe haven: "+strings.ReplaceAll(d.How, "_", " "))
		} else {
			v.decide(e, "safe haven: not taken in")
		}
	case *events.HavenSupportGiven:
		if v.Haven != nil {
			for _, s := range d.Support {
				if !slices.Contains(v.Haven.Support, s) {
					v.Haven.Support = append(v.Haven.Support, s)
				}
			}
			set(&v.Haven.Plan, d.Plan)
		}
	case *events.HavenLeft:
		if v.Haven != nil {
			v.Haven.Left, v.Haven.LeftAt, v.Haven.Outcome, v.Haven.Detail = true, d.LeftAt, d.Outcome, d.Detail
		}
		v.decide(e, "left the safe haven: "+havenOutcome(d.Outcome))
	case *events.ClockWarning:
		v.clock(d.Clock, d.Ref, d.Owner, d.DueAt, false)
	case *events.ClockBreached:
		v.clock(d.Clock, d.Ref, d.Owner, d.DueAt, true)
		// A handoff not acknowledged or accepted in time escalates: it stays
		// open, marked, until someone answers or withdraws it.
		if h := v.Handoff(d.Ref); h != nil && h.State.Open() && (d.Clock == events.HandoffAckClock || d.Clock == events.HandoffAcceptClock) {
			h.Escalated = true
		}
	}
}

func (v *View) assessment() *Assessment {
	if v.Assessment == nil {
		v.Assessment = &Assessment{}
	}
	return v.Assessment
}

func (v *View) followUp() *FollowUp {
	if v.FollowUp == nil {
		v.FollowUp = &FollowUp{}
	}
	return v.FollowUp
}

func (v *View) clock(k events.ClockKind, ref string, owner events.Agency, due time.Time, breached bool) {
	for i := range v.Clocks {
		if v.Clocks[i].Clock == k && v.Clocks[i].Ref == ref {
			v.Clocks[i].DueAt, v.Clocks[i].Owner = due, owner
			v.Clocks[i].Breached = v.Clocks[i].Breached || breached
			return
		}
	}
	v.Clocks = append(v.Clocks, ClockState{Clock: k, Ref: ref, Owner: owner, DueAt: due, Breached: breached})
}

func set(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// havenOutcome says how a safe haven visit ended, in words.
func havenOutcome(o string) string {
	switch o {
	case "went_home":
		return "went home"
	case "handed_on":
		return "handed on"
	case "emergency_999":
		return "999 called"
	}
	return o
}

func avoided(b bool) string {
	if b {
		return " (s136 avoided)"
	}
	return ""
}

// Summary is what a handoff carries: who the person is, their own words and
// needs, the risks, the legal status, and every fact recorded so far. It
// holds nothing clinical, so it may go to any agency.
func (v *View) Summary() events.Summary {
	s := events.Summary{OwnWords: v.OwnWords, CommunicationNeeds: slices.Clone(v.Needs), LegalStatus: v.LegalStatus, Facts: []events.Fact{}}
	p := map[string]any{}
	put := func(k, val string) {
		if val != "" {
			p[k] = val
		}
	}
	put("nhsNumber", v.Person.NHSNumber)
	put("givenName", v.Person.GivenName)
	put("familyName", v.Person.FamilyName)
	put("knownAs", v.Person.KnownAs)
	put("dateOfBirth", v.Person.DateOfBirth)
	put("phone", v.Person.Phone)
	put("description", v.Person.Description)
	put("whoToContact", v.WhoToContact)
	put("crisisPlan", v.CrisisPlan)
	put("language", v.Language)
	if v.Person.AgeYears > 0 {
		p["ageYears"] = v.Person.AgeYears
	}
	if len(p) > 0 {
		s.Person = p
	}
	for _, r := range v.Risks {
		s.Risks = append(s.Risks, strings.TrimSpace(string(r.Level)+" "+r.What))
	}
	for _, t := range v.Timeline {
		s.Facts = append(s.Facts, events.Fact{EventID: t.EventID, Type: t.Type, Agency: string(t.Agency), Time: t.Time, Text: t.Text})
	}
	return s
}

// MissingFacts lists the event ids of the view's timeline that a summary
// does not carry: the continuity property is that this is empty.
func MissingFacts(timeline []Entry, s events.Summary) []string {
	have := map[string]bool{}
	for _, f := range s.Facts {
		have[f.EventID] = true
	}
	var missing []string
	for _, t := range timeline {
		if !have[t.EventID] {
			missing = append(missing, t.EventID+" ("+t.Type+")")
		}
	}
	return missing
}
