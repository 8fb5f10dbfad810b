package events

import "time"

// HandoffKind names the kinds of handoff; every kind follows the same
// protocol (offered, acknowledged, accepted or declined, completed; or cancelled).
type HandoffKind string

// The kinds of handoff.
const (
	TriageAdvice  HandoffKind = "triage_advice"  // to the mental health triage service
	SPoAReferral  HandoffKind = "spoa_referral"  // referral to the single point of access
	MHAAssessment HandoffKind = "mha_assessment" // MHA (s136) assessment request to the AMHP service
	FollowUp      HandoffKind = "followup"       // 4-day follow-up referral to the helpline
	// SafeHavenReferral asks the safe haven to take the person tonight (police
	// bringing them count as brought by police); the haven accepts, or
	// declines when closed, closing or full.
	SafeHavenReferral HandoffKind = "safe_haven_referral"
)

// Risk as judged by whoever recorded it.
type Risk string

// Place types for a place of safety. A private dwelling is never one.
type PlaceType string

// Place types.
const (
	HealthBasedPlaceOfSafety PlaceType = "health_based_place_of_safety"
	EmergencyDepartment      PlaceType = "emergency_department"
	PoliceStation            PlaceType = "police_station"
	KeptWhereTheyAre         PlaceType = "kept_where_they_are"
)

// ClockKind names a clock the clock service keeps.
type ClockKind string

// Clock kinds.
const (
	S136Clock          ClockKind = "s136"
	WelfareCheckClock  ClockKind = "welfare_check"
	HandoffAckClock    ClockKind = "handoff_acknowledge"
	HandoffAcceptClock ClockKind = "handoff_accept"
	FollowUpClock      ClockKind = "followup_contact"
)

// Summary is what travels with a handoff: what is known, so the receiver
// never has to ask again.
type Summary struct {
	Person             map[string]any `json:"person,omitempty"`
	OwnWords           string         `json:"ownWords,omitempty"`
	CommunicationNeeds []string       `json:"communicationNeeds,omitempty"`
	Risks              []string       `json:"risks,omitempty"`
	LegalStatus        string         `json:"legalStatus,omitempty"`
	Facts              []Fact         `json:"facts"`
}

// Fact is one recorded event, as carried in a summary.
type Fact struct {
	EventID string    `json:"eventId"`
	Type    string    `json:"type"`
	Agency  string    `json:"agency"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
}

// PoliceStationConditions are the conditions the Places of Safety Regulations
// 2017 require before an adult is held in a police station.
type PoliceStationConditions struct {
	ImminentRiskOfSeriousHarm   bool   `json:"imminentRiskOfSeriousHarm"`
	NoOtherPlaceAvailable       bool   `json:"noOtherPlaceAvailable"`
	InspectorAuthorisation      string `json:"inspectorAuthorisation"`
	HealthProfessionalConsulted bool   `json:"healthProfessionalConsulted"`
	// Reason is why a police station and not a health-based place of
	// safety (PoliceStationReasons); the police command requires it.
	Reason string `json:"reason,omitempty"`
	// PlacesWithRoom are the health-based places of safety the live
	// directory of places showed open with room for the person when they
	// arrived: written by the police service, not the officer, so the
	// record says when a cell was used while a health-based place had room.
	PlacesWithRoom []string `json:"placesWithRoom,omitempty"`
}

// Why a police station was used as a place of safety, as the places
// report counts them (seed 003, 4.15: "in the vast majority of cases their
// use was down to capacity issues").
const (
	NoHealthBasedPlaceFree  = "no_health_based_place_free"
	ViolenceCannotBeManaged = "violence_cannot_be_managed"
)

// PoliceStationReasons are the reasons a police station may be recorded as used.
var PoliceStationReasons = []string{NoHealthBasedPlaceFree, ViolenceCannotBeManaged}
