// The Go side of the v1 catalogue in schemas/v1; catalogue_test.go
// checks each struct against its schema so the two cannot drift.

package events

import "time"

// EpisodeOpened is the data of crisisbus.episode.opened.v1: a crisis episode opens: the first call or referral about a person in crisis.
type EpisodeOpened struct {
	Channel         string `json:"channel"`
	Summary         string `json:"summary"`
	Location        string `json:"location,omitempty"`
	AgencyReference string `json:"agencyReference,omitempty"`
}

// EpisodeLinked is the data of crisisbus.episode.linked.v1: two episodes are found to be the same person. They are linked, never silently merged: both timelines remain.
type EpisodeLinked struct {
	OtherEpisode string   `json:"otherEpisode"`
	MatchedOn    []string `json:"matchedOn"`
	Reason       string   `json:"reason"`
}

// EpisodeClosed is the data of crisisbus.episode.closed.v1: the owning agency closes the episode.
type EpisodeClosed struct {
	Reason string `json:"reason"`
}

// PersonIdentified is the data of crisisbus.person.identified.v1: who the person is, as far as the caller knows: any one of an NHS number, a name, a first name or the name they go by, a date of birth, an approximate age or a description. The NHS number, when given, has been verified with its modulus 11 check digit.
type PersonIdentified struct {
	NHSNumber   string `json:"nhsNumber,omitempty"`
	GivenName   string `json:"givenName,omitempty"`
	FamilyName  string `json:"familyName,omitempty"`
	KnownAs     string `json:"knownAs,omitempty"`
	DateOfBirth string `json:"dateOfBirth,omitempty"`
	AgeYears    int    `json:"ageYears,omitempty"`
	Phone       string `json:"phone,omitempty"`
	Description string `json:"description,omitempty"`
}

// PersonVoiceRecorded is the data of crisisbus.person.voice_recorded.v1: the person's own words and needs: what they want every service to know, so they are not asked again.
type PersonVoiceRecorded struct {
	OwnWords           string   `json:"ownWords"`
	CommunicationNeeds []string `json:"communicationNeeds,omitempty"`
	Language           string   `json:"language,omitempty"`
	CrisisPlan         string   `json:"crisisPlan,omitempty"`
	WhoToContact       string   `json:"whoToContact,omitempty"`
}

// PersonNoteGiven is the data of crisisbus.person.note_given.v1: the agency holding the episode gave the person a plain-language note of what happens next: what was agreed, who will call and when, the crisis line and the safe havens open tonight.
type PersonNoteGiven struct {
	Format      string   `json:"format"`
	How         string   `json:"how"`
	Agreed      string   `json:"agreed,omitempty"`
	WhoWillCall string   `json:"whoWillCall,omitempty"`
	Town        string   `json:"town,omitempty"`
	Havens      []string `json:"havens,omitempty"`
}

// ConsentRecorded is the data of crisisbus.person.consent_recorded.v1: a health agency records that the person agreed, or no longer agrees, that the safe haven may see their clinical record in this episode. Only a health agency, which holds that record, may record it.
type ConsentRecorded struct {
	To       Agency `json:"to"`
	Decision string `json:"decision"`
	Words    string `json:"words,omitempty"`
}

// TriageRequested is the data of crisisbus.triage.requested.v1: the control room asks its mental health worker for triage advice during a call.
type TriageRequested struct {
	CallerAccount string `json:"callerAccount"`
	Location      string `json:"location,omitempty"`
	Concern       string `json:"concern"`
	Risk          Risk   `json:"risk,omitempty"`
}

// TriageAdviceGiven is the data of crisisbus.triage.advice_given.v1: the control-room mental health worker gives triage advice, including appropriate health history.
type TriageAdviceGiven struct {
	Advice            string `json:"advice"`
	KnownToServices   bool   `json:"knownToServices,omitempty"`
	HealthHistory     string `json:"healthHistory,omitempty"`
	RecommendedAction string `json:"recommendedAction"`
}

// StreetTriageDispatched is the data of crisisbus.street_triage.dispatched.v1: a street triage team (officer and mental health nurse) is sent to the person.
type StreetTriageDispatched struct {
	Team string `json:"team"`
}

// StreetTriageOutcome is the data of crisisbus.street_triage.outcome.v1: what street triage achieved, including whether an s136 detention was avoided. Recorded by police, or by the trust (SPoA) when it carries the street triage nurse's notes.
type StreetTriageOutcome struct {
	S136Avoided bool   `json:"s136Avoided"`
	Outcome     string `json:"outcome"`
	Notes       string `json:"notes,omitempty"`
}

// RcrpDecided is the data of crisisbus.rcrp.decided.v1: right Care, Right Person: whether police attend, and if not, which agency responds.
type RcrpDecided struct {
	PoliceAttend     bool   `json:"policeAttend"`
	Grounds          string `json:"grounds"`
	RespondingAgency string `json:"respondingAgency,omitempty"`
	Rationale        string `json:"rationale"`
}

// AmbulanceCallTriaged is the data of crisisbus.ambulance.call_triaged.v1: the ambulance EOC triages a call with a mental health element.
type AmbulanceCallTriaged struct {
	Response                   string `json:"response"`
	PhysicalHealthConcern      bool   `json:"physicalHealthConcern"`
	MentalHealthWorkerInvolved bool   `json:"mentalHealthWorkerInvolved,omitempty"`
	Notes                      string `json:"notes,omitempty"`
}

// AmbulanceConveyance is the data of crisisbus.ambulance.conveyance.v1: where the ambulance took the person, or that it did not convey.
type AmbulanceConveyance struct {
	Conveyed        bool   `json:"conveyed"`
	Destination     string `json:"destination,omitempty"`
	DestinationName string `json:"destinationName,omitempty"`
	Reason          string `json:"reason"`
}

// HandoffOffered is the data of crisisbus.handoff.offered.v1: an agency offers the episode to another: a triage advice request, a referral to SPoA, an MHA assessment request to the AMHP service, a follow-up referral to the helpline. It carries the episode summary so the receiver never has to ask again.
type HandoffOffered struct {
	HandoffID string      `json:"handoffId"`
	Kind      HandoffKind `json:"kind"`
	To        Agency      `json:"to"`
	Reason    string      `json:"reason"`
	Urgency   string      `json:"urgency"`
	Summary   Summary     `json:"summary"`
}

// HandoffAcknowledged is the data of crisisbus.handoff.acknowledged.v1: the receiving agency has seen the offer.
type HandoffAcknowledged struct {
	HandoffID string `json:"handoffId"`
}

// HandoffAccepted is the data of crisisbus.handoff.accepted.v1: the receiving agency accepts: ownership of the episode passes to it.
type HandoffAccepted struct {
	HandoffID  string `json:"handoffId"`
	AcceptedBy string `json:"acceptedBy"`
}

// HandoffDeclined is the data of crisisbus.handoff.declined.v1: the receiving agency declines, with its reason; ownership stays with the offering agency.
type HandoffDeclined struct {
	HandoffID string `json:"handoffId"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail"`
}

// HandoffCancelled is the data of crisisbus.handoff.cancelled.v1: the offering agency withdraws the offer before acceptance.
type HandoffCancelled struct {
	HandoffID string `json:"handoffId"`
	Reason    string `json:"reason"`
}

// HandoffCompleted is the data of crisisbus.handoff.completed.v1: the accepting agency has done what the handoff asked.
type HandoffCompleted struct {
	HandoffID string `json:"handoffId"`
	Outcome   string `json:"outcome"`
}

// S136Consulted is the data of crisisbus.s136.consulted.v1: before detaining under s136, the officer consults a health professional where practicable (MHA s136(1C)).
type S136Consulted struct {
	Practicable  bool   `json:"practicable"`
	Professional string `json:"professional,omitempty"`
	Advice       string `json:"advice"`
}

// S136Detained is the data of crisisbus.s136.detained.v1: a person is detained under s136 (never in a private dwelling, its garden or outbuildings).
type S136Detained struct {
	DetainedAt       time.Time `json:"detainedAt"`
	LocationType     string    `json:"locationType"`
	AgeYears         int       `json:"ageYears"`
	KeptWhereTheyAre bool      `json:"keptWhereTheyAre"`
	Consulted        bool      `json:"consulted"`
}

// PlaceOfSafetyRequested is the data of crisisbus.place_of_safety.requested.v1: a place of safety is asked for.
type PlaceOfSafetyRequested struct {
	PreferredType PlaceType `json:"preferredType,omitempty"`
	Notes         string    `json:"notes,omitempty"`
}

// PlaceOfSafetyAllocated is the data of crisisbus.place_of_safety.allocated.v1: the trust allocates a place of safety.
type PlaceOfSafetyAllocated struct {
	PlaceType PlaceType `json:"placeType"`
	PlaceName string    `json:"placeName"`
}

// PlaceOfSafetyArrived is the data of crisisbus.place_of_safety.arrived.v1: the person arrives at the place of safety; the s136 24-hour clock starts (s136(2A)).
type PlaceOfSafetyArrived struct {
	ArrivedAt     time.Time                `json:"arrivedAt"`
	PlaceType     PlaceType                `json:"placeType"`
	PlaceName     string                   `json:"placeName"`
	PoliceStation *PoliceStationConditions `json:"policeStation,omitempty"`
}

// S136Extended is the data of crisisbus.s136.extended.v1: the examining doctor extends the s136 period by up to 12 hours, before expiry (s136B).
type S136Extended struct {
	Hours                  int       `json:"hours"`
	Doctor                 string    `json:"doctor"`
	Reason                 string    `json:"reason"`
	SuperintendentApproval string    `json:"superintendentApproval,omitempty"`
	ExtendedAt             time.Time `json:"extendedAt"`
}

// S136WelfareChecked is the data of crisisbus.s136.welfare_checked.v1: a welfare check of an adult held in a police station (at least every 30 minutes).
type S136WelfareChecked struct {
	CheckedAt time.Time `json:"checkedAt"`
	CheckedBy string    `json:"checkedBy"`
	Notes     string    `json:"notes,omitempty"`
}

// S136Released is the data of crisisbus.s136.released.v1: the s136 detention ends without an assessment outcome (for example released); the clock stops.
type S136Released struct {
	ReleasedAt time.Time `json:"releasedAt"`
	Reason     string    `json:"reason"`
}

// AssessmentDoctorAllocated is the data of crisisbus.assessment.doctor_allocated.v1: the AMHP service arranges a doctor for the MHA assessment.
type AssessmentDoctorAllocated struct {
	Doctor      string `json:"doctor"`
	S12Approved bool   `json:"s12Approved"`
	Role        string `json:"role"`
}

// AssessmentDelayed is the data of crisisbus.assessment.delayed.v1: the assessment is delayed, with its cause (seed 003 §5.1).
type AssessmentDelayed struct {
	Cause  string `json:"cause"`
	Detail string `json:"detail,omitempty"`
}

// AssessmentCompleted is the data of crisisbus.assessment.completed.v1: the MHA assessment concludes; the s136 clock stops.
type AssessmentCompleted struct {
	Outcome     string    `json:"outcome"`
	CompletedAt time.Time `json:"completedAt"`
	Notes       string    `json:"notes,omitempty"`
}

// FollowupContactScheduled is the data of crisisbus.followup.contact_scheduled.v1: the helpline schedules a follow-up call within the 4 days.
type FollowupContactScheduled struct {
	DueAt         time.Time `json:"dueAt"`
	ContactNumber int       `json:"contactNumber"`
}

// FollowupContactAttempted is the data of crisisbus.followup.contact_attempted.v1: the helpline tried a follow-up call.
type FollowupContactAttempted struct {
	ContactNumber int    `json:"contactNumber"`
	Outcome       string `json:"outcome"`
	Risk          Risk   `json:"risk,omitempty"`
	Notes         string `json:"notes,omitempty"`
}

// FollowupEscalated is the data of crisisbus.followup.escalated.v1: the helpline escalates to SPoA because risk has risen.
type FollowupEscalated struct {
	Risk   Risk   `json:"risk"`
	Reason string `json:"reason"`
}

// FollowupCompleted is the data of crisisbus.followup.completed.v1: the 4-day follow-up is finished.
type FollowupCompleted struct {
	ContactsMade int    `json:"contactsMade"`
	Summary      string `json:"summary"`
}

// ClockWarning is the data of crisisbus.clock.warning.v1: a legal or handoff clock is close to breaking.
type ClockWarning struct {
	Clock       ClockKind `json:"clock"`
	Ref         string    `json:"ref"`
	Owner       Agency    `json:"owner"`
	DueAt       time.Time `json:"dueAt"`
	SecondsLeft int       `json:"secondsLeft"`
}

// ClockBreached is the data of crisisbus.clock.breached.v1: a legal or handoff clock has broken: an escalation, repeated until resolved.
type ClockBreached struct {
	Clock       ClockKind `json:"clock"`
	Ref         string    `json:"ref"`
	Owner       Agency    `json:"owner"`
	DueAt       time.Time `json:"dueAt"`
	SecondsOver int       `json:"secondsOver"`
	Repeat      int       `json:"repeat"`
}

// RecordDisclosed is the data of crisisbus.record.disclosed.v1: someone saw an agency's view of the episode record: who, which agency, why (Caldicott).
type RecordDisclosed struct {
	Viewer  string   `json:"viewer"`
	Agency  Agency   `json:"agency"`
	Purpose string   `json:"purpose"`
	Fields  []string `json:"fields"`
}

// HavenArrived is the data of crisisbus.haven.arrived.v1: a person arrives at a safe haven: walking in, brought by police or referred by a service; or is not taken, with the reason and where to go instead (the havens are for adults).
type HavenArrived struct {
	How            string    `json:"how"`
	Haven          string    `json:"haven"`
	ArrivedAt      time.Time `json:"arrivedAt"`
	Taken          bool      `json:"taken"`
	NotTakenReason string    `json:"notTakenReason,omitempty"`
}

// HavenSupportGiven is the data of crisisbus.haven.support_given.v1: the safe haven's support during a visit: de-escalation, emotional support, peer support, a plan made with the person in their own words.
type HavenSupportGiven struct {
	Support []string `json:"support"`
	Plan    string   `json:"plan,omitempty"`
}

// HavenLeft is the data of crisisbus.haven.left.v1: the person leaves the safe haven: went home, handed on to another service (with the record travelling), or needed 999.
type HavenLeft struct {
	Outcome string    `json:"outcome"`
	LeftAt  time.Time `json:"leftAt"`
	Detail  string    `json:"detail,omitempty"`
}

// PlaceUpdated is the data of crisisbus.place.updated.v1: a place's provider says how it stands now: closed against its usual hours (and why), or open again, and how many places are free. Not about an episode: its subject is the place's own id on the bus (places.Subject), and the directory of places is rebuilt from these facts.
type PlaceUpdated struct {
	Place  string `json:"place"`
	Closed bool   `json:"closed"`
	Reason string `json:"reason,omitempty"`
	Free   *int   `json:"free,omitempty"`
}

// catalogue lists every v1 event type: its name, Go type, publishing agencies and whether it is addressed to an agency.
var catalogue = []Spec{
	{Name: "episode.opened", Data: func() any { return new(EpisodeOpened) }, Publishers: Agencies, Addressed: false},
	{Name: "episode.linked", Data: func() any { return new(EpisodeLinked) }, Publishers: Agencies, Addressed: false},
	{Name: "episode.closed", Data: func() any { return new(EpisodeClosed) }, Publishers: Agencies, Addressed: false},
	{Name: "person.identified", Data: func() any { return new(PersonIdentified) }, Publishers: Agencies, Addressed: false},
	{Name: "person.voice_recorded", Data: func() any { return new(PersonVoiceRecorded) }, Publishers: Agencies, Addressed: false},
	{Name: "person.note_given", Data: func() any { return new(PersonNoteGiven) }, Publishers: Agencies, Addressed: false},
	{Name: "person.consent_recorded", Data: func() any { return new(ConsentRecorded) }, Publishers: []Agency{Ambulance, SPoA, AMHP, Crisisline}, Addressed: false},
	{Name: "triage.requested", Data: func() any { return new(TriageRequested) }, Publishers: []Agency{Police, Ambulance}, Addressed: false},
	{Name: "triage.advice_given", Data: func() any { return new(TriageAdviceGiven) }, Publishers: []Agency{Police, Ambulance, SPoA}, Addressed: false},
	{Name: "street_triage.dispatched", Data: func() any { return new(StreetTriageDispatched) }, Publishers: []Agency{Police}, Addressed: false},
	{Name: "street_triage.outcome", Data: func() any { return new(StreetTriageOutcome) }, Publishers: []Agency{Police, SPoA}, Addressed: false},
	{Name: "rcrp.decided", Data: func() any { return new(RcrpDecided) }, Publishers: []Agency{Police}, Addressed: false},
	{Name: "ambulance.call_triaged", Data: func() any { return new(AmbulanceCallTriaged) }, Publishers: []Agency{Ambulance}, Addressed: false},
	{Name: "ambulance.conveyance", Data: func() any { return new(AmbulanceConveyance) }, Publishers: []Agency{Ambulance}, Addressed: false},
	{Name: "handoff.offered", Data: func() any { return new(HandoffOffered) }, Publishers: Agencies, Addressed: true},
	{Name: "handoff.acknowledged", Data: func() any { return new(HandoffAcknowledged) }, Publishers: Agencies, Addressed: true},
	{Name: "handoff.accepted", Data: func() any { return new(HandoffAccepted) }, Publishers: Agencies, Addressed: true},
	{Name: "handoff.declined", Data: func() any { return new(HandoffDeclined) }, Publishers: Agencies, Addressed: true},
	{Name: "handoff.cancelled", Data: func() any { return new(HandoffCancelled) }, Publishers: Agencies, Addressed: true},
	{Name: "handoff.completed", Data: func() any { return new(HandoffCompleted) }, Publishers: Agencies, Addressed: true},
	{Name: "s136.consulted", Data: func() any { return new(S136Consulted) }, Publishers: []Agency{Police}, Addressed: false},
	{Name: "s136.detained", Data: func() any { return new(S136Detained) }, Publishers: []Agency{Police}, Addressed: false},
	{Name: "place_of_safety.requested", Data: func() any { return new(PlaceOfSafetyRequested) }, Publishers: []Agency{Police, Ambulance}, Addressed: false},
	{Name: "place_of_safety.allocated", Data: func() any { return new(PlaceOfSafetyAllocated) }, Publishers: []Agency{SPoA}, Addressed: false},
	{Name: "place_of_safety.arrived", Data: func() any { return new(PlaceOfSafetyArrived) }, Publishers: []Agency{Police, Ambulance}, Addressed: false},
	{Name: "s136.extended", Data: func() any { return new(S136Extended) }, Publishers: []Agency{AMHP}, Addressed: false},
	{Name: "s136.welfare_checked", Data: func() any { return new(S136WelfareChecked) }, Publishers: []Agency{Police}, Addressed: false},
	{Name: "s136.released", Data: func() any { return new(S136Released) }, Publishers: []Agency{Police, AMHP}, Addressed: false},
	{Name: "assessment.doctor_allocated", Data: func() any { return new(AssessmentDoctorAllocated) }, Publishers: []Agency{AMHP}, Addressed: false},
	{Name: "assessment.delayed", Data: func() any { return new(AssessmentDelayed) }, Publishers: []Agency{AMHP}, Addressed: false},
	{Name: "assessment.completed", Data: func() any { return new(AssessmentCompleted) }, Publishers: []Agency{AMHP}, Addressed: false},
	{Name: "followup.contact_scheduled", Data: func() any { return new(FollowupContactScheduled) }, Publishers: []Agency{Crisisline}, Addressed: false},
	{Name: "followup.contact_attempted", Data: func() any { return new(FollowupContactAttempted) }, Publishers: []Agency{Crisisline}, Addressed: false},
	{Name: "followup.escalated", Data: func() any { return new(FollowupEscalated) }, Publishers: []Agency{Crisisline}, Addressed: false},
	{Name: "followup.completed", Data: func() any { return new(FollowupCompleted) }, Publishers: []Agency{Crisisline}, Addressed: false},
	{Name: "haven.arrived", Data: func() any { return new(HavenArrived) }, Publishers: []Agency{SafeHaven}, Addressed: false},
	{Name: "haven.support_given", Data: func() any { return new(HavenSupportGiven) }, Publishers: []Agency{SafeHaven}, Addressed: false},
	{Name: "haven.left", Data: func() any { return new(HavenLeft) }, Publishers: []Agency{SafeHaven}, Addressed: false},
	{Name: "place.updated", Data: func() any { return new(PlaceUpdated) }, Publishers: []Agency{Police, SPoA, SafeHaven}, Addressed: false},
	{Name: "clock.warning", Data: func() any { return new(ClockWarning) }, Publishers: []Agency{Clock}, Addressed: false},
	{Name: "clock.breached", Data: func() any { return new(ClockBreached) }, Publishers: []Agency{Clock}, Addressed: false},
	{Name: "record.disclosed", Data: func() any { return new(RecordDisclosed) }, Publishers: []Agency{Record}, Addressed: false},
}
