package episode

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London must resolve on a machine without zoneinfo

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/places"
)

// describe writes one fact as a line a person in any agency can read: in
// words, never a code of the contract or an id, with times in Europe/London.
// It never includes a clinical field (health history, clinical notes):
// those go only to View.Clinical. v is the view before the fact, to name a
// handoff by what it asks for.
func describe(v *View, e events.Event, data any) string {
	who := e.Source.Title()
	switch d := data.(type) {
	case *events.EpisodeOpened:
		return fmt.Sprintf("%s opened the episode (%s): %s", who, say(d.Channel), d.Summary)
	case *events.EpisodeLinked:
		return fmt.Sprintf("Linked to another episode of the same person (matched on %s): %s", sayAll(d.MatchedOn), d.Reason)
	case *events.EpisodeClosed:
		return fmt.Sprintf("%s closed the episode: %s", who, d.Reason)
	case *events.PersonIdentified:
		var parts []string
		if n := strings.TrimSpace(d.GivenName + " " + d.FamilyName); n != "" {
			parts = append(parts, n)
		}
		if d.KnownAs != "" {
			parts = append(parts, "known as "+d.KnownAs)
		}
		if d.DateOfBirth != "" {
			parts = append(parts, "born "+d.DateOfBirth)
		}
		if d.AgeYears > 0 {
			parts = append(parts, fmt.Sprintf("aged %d", d.AgeYears))
		}
		if d.NHSNumber != "" {
			parts = append(parts, "NHS number "+d.NHSNumber)
		}
		if d.Description != "" {
			parts = append(parts, "described as: "+d.Description)
		}
		return "Identified: " + strings.Join(parts, ", ")
	case *events.ConsentRecorded:
		who := d.To.Info().Title
		if first, _, _ := strings.Cut(who, " "); first != strings.ToUpper(first) {
			who = strings.ToLower(who[:1]) + who[1:] // "the safe haven", "the AMHP service"
		}
		if d.Decision == "withdrawn" {
			return "They no longer agree that the " + who + " may see their clinical record"
		}
		return "They agree that the " + who + " may see their clinical record"
	case *events.PersonNoteGiven:
		s := "Gave them a note of what happens next (" + map[string]string{"standard": "plain words", "easy_read": "easy read", "bsl": "with the BSL routes"}[d.Format] +
			", " + map[string]string{"read_out": "read out", "printed": "printed", "read_out_and_printed": "read out and printed"}[d.How] + ")"
		if d.WhoWillCall != "" {
			s += ": " + d.WhoWillCall
		}
		return s
	case *events.PersonVoiceRecorded:
		s := fmt.Sprintf("In their own words: %q", d.OwnWords)
		if len(d.CommunicationNeeds) > 0 {
			s += "; needs: " + sayAll(d.CommunicationNeeds)
		}
		if d.WhoToContact != "" {
			s += "; contact: " + d.WhoToContact
		}
		return s
	case *events.TriageRequested:
		return fmt.Sprintf("Triage advice requested: %s%s", d.Concern, riskSuffix(d.Risk))
	case *events.TriageAdviceGiven:
		known := ""
		if d.KnownToServices {
			known = "; known to mental health services"
		}
		return fmt.Sprintf("Triage advice: %s (recommends: %s%s)", d.Advice, say(d.RecommendedAction), known)
	case *events.StreetTriageDispatched:
		return "Street triage dispatched: " + d.Team
	case *events.StreetTriageOutcome:
		return "Street triage outcome: " + say(d.Outcome) + avoided(d.S136Avoided)
	case *events.RcrpDecided:
		attend := "police do not attend"
		if d.PoliceAttend {
			attend = "police attend"
		}
		resp := ""
		if d.RespondingAgency != "" {
			resp = "; " + d.RespondingAgency + " responds"
		}
		return fmt.Sprintf("Right Care, Right Person: %s (%s)%s: %s", attend, say(d.Grounds), resp, d.Rationale)
	case *events.AmbulanceCallTriaged:
		s := "Call triaged: " + say(d.Response)
		if !d.PhysicalHealthConcern {
			s += "; no physical health concern"
		}
		if d.MentalHealthWorkerInvolved {
			s += "; EOC mental health worker involved"
		}
		return s
	case *events.AmbulanceConveyance:
		if d.Conveyed {
			return fmt.Sprintf("Conveyed to %s: %s", strings.TrimSpace(d.DestinationName+" ("+say(d.Destination)+")"), d.Reason)
		}
		return "Not conveyed: " + d.Reason
	case *events.HandoffOffered:
		return fmt.Sprintf("%s offered the episode to %s for %s (%s), with the %d facts known: %s", who, d.To.Title(), say(string(d.Kind)), say(d.Urgency), len(d.Summary.Facts), d.Reason)
	case *events.HandoffAcknowledged:
		return fmt.Sprintf("%s has seen %s", who, v.offer(d.HandoffID))
	case *events.HandoffAccepted:
		return fmt.Sprintf("%s accepted %s and now holds the episode", who, v.offer(d.HandoffID))
	case *events.HandoffDeclined:
		return fmt.Sprintf("%s declined %s (%s): %s", who, v.offer(d.HandoffID), say(d.Reason), d.Detail)
	case *events.HandoffCancelled:
		return fmt.Sprintf("%s withdrew %s: %s", who, v.offer(d.HandoffID), d.Reason)
	case *events.HandoffCompleted:
		return fmt.Sprintf("%s completed %s: %s", who, v.offer(d.HandoffID), say(d.Outcome))
	case *events.S136Consulted:
		if !d.Practicable {
			return "Consultation before s136 was not practicable: " + d.Advice
		}
		return fmt.Sprintf("Consulted a %s before s136: %s", say(d.Professional), d.Advice)
	case *events.S136Detained:
		kept := ""
		if d.KeptWhereTheyAre {
			kept = "; kept where they are"
		}
		return fmt.Sprintf("Detained under s136 in a %s at %s (aged %d; consulted first: %s%s)",
			say(d.LocationType), hhmm(d.DetainedAt), d.AgeYears, yes(d.Consulted), kept)
	case *events.PlaceOfSafetyRequested:
		return "Place of safety requested" + prefix(": ", say(string(d.PreferredType)))
	case *events.PlaceOfSafetyAllocated:
		return fmt.Sprintf("Place of safety allocated: %s (%s)", d.PlaceName, say(string(d.PlaceType)))
	case *events.PlaceOfSafetyArrived:
		s := fmt.Sprintf("Arrived at %s (%s) at %s", d.PlaceName, say(string(d.PlaceType)), hhmm(d.ArrivedAt))
		if c := d.PoliceStation; c != nil && c.Reason != "" {
			s += "; a police station because: " + say(c.Reason)
		}
		if c := d.PoliceStation; c != nil && len(c.PlacesWithRoom) > 0 {
			s += "; health-based places of safety had room then: " + strings.Join(c.PlacesWithRoom, ", ")
		}
		return s
	case *events.S136Extended:
		return fmt.Sprintf("s136 extended by %dh by %s%s", d.Hours, d.Doctor, prefix("; approved by ", d.SuperintendentApproval))
	case *events.S136WelfareChecked:
		return fmt.Sprintf("Welfare checked at %s by %s", hhmm(d.CheckedAt), d.CheckedBy)
	case *events.S136Released:
		return fmt.Sprintf("Released from s136 at %s: %s", hhmm(d.ReleasedAt), d.Reason)
	case *events.AssessmentDoctorAllocated:
		s12 := ""
		if d.S12Approved {
			s12 = ", s12-approved"
		}
		return fmt.Sprintf("Doctor allocated: %s (%s%s)", d.Doctor, say(d.Role), s12)
	case *events.AssessmentDelayed:
		return "Assessment delayed: " + say(d.Cause)
	case *events.AssessmentCompleted:
		return fmt.Sprintf("Assessment completed at %s: %s", hhmm(d.CompletedAt), say(d.Outcome))
	case *events.FollowupContactScheduled:
		return fmt.Sprintf("Follow-up call %d due %s", d.ContactNumber, hhmm(d.DueAt))
	case *events.FollowupContactAttempted:
		return fmt.Sprintf("Follow-up call %d: %s%s", d.ContactNumber, say(d.Outcome), riskSuffix(d.Risk))
	case *events.FollowupEscalated:
		return fmt.Sprintf("Escalated to SPoA (risk %s): %s", d.Risk, d.Reason)
	case *events.FollowupCompleted:
		return fmt.Sprintf("Follow-up completed: %d contacts made", d.ContactsMade)
	case *events.HavenArrived:
		if !d.Taken {
			return fmt.Sprintf("At %s at %s, not taken in: %s", havenName(d.Haven), hhmm(d.ArrivedAt), d.NotTakenReason)
		}
		return fmt.Sprintf("Arrived at %s at %s (%s)", havenName(d.Haven), hhmm(d.ArrivedAt), strings.ReplaceAll(d.How, "_", " "))
	case *events.HavenSupportGiven:
		return "Safe haven support: " + strings.ReplaceAll(strings.Join(d.Support, ", "), "_", " ") + prefix("; the plan, in their words: ", d.Plan)
	case *events.HavenLeft:
		return fmt.Sprintf("Left the safe haven at %s: %s", hhmm(d.LeftAt), havenOutcome(d.Outcome)) + prefix(": ", d.Detail)
	case *events.ClockWarning:
		return fmt.Sprintf("Warning to %s: %s, %s left (due %s)", d.Owner.Title(), say(string(d.Clock)), minutes(d.SecondsLeft), hhmm(d.DueAt))
	case *events.ClockBreached:
		return fmt.Sprintf("Overdue for %s: %s, %s over (due %s)", d.Owner.Title(), say(string(d.Clock)), minutes(d.SecondsOver), hhmm(d.DueAt))
	}
	spec, _ := e.Spec()
	return spec.Name
}

func riskSuffix(r events.Risk) string {
	return prefix(" (risk ", string(r)) + map[bool]string{true: ")"}[r != ""]
}

func prefix(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// hhmm is a time as people in Kent read it: London time, with the day.
// havenName is a haven as people name it, from the directory of places
// ("Thanet Safe Haven (Margate)"); an id the directory does not know is
// written as it was recorded.
func havenName(id string) string {
	if d, err := places.Default(); err == nil {
		if p, ok := d.Place(id); ok {
			return p.Name + " (" + p.Town + ")"
		}
	}
	return "the safe haven " + id
}

func hhmm(t time.Time) string { return t.In(london).Format("15:04 Mon 2 Jan") }

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(fmt.Sprintf("time zone Europe/London is embedded with time/tzdata: %v", err))
	}
	return l
}()

// minutes is a length of time as people say it: "45 min", "21 h 5 min".
func minutes(seconds int) string {
	m := seconds / 60
	if m < 60 {
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d h %d min", m/60, m%60)
}

// offer names a handoff of the view by what it asks for ("the offer of a
// Mental Health Act assessment"), never by its id.
func (v *View) offer(id string) string {
	if h := v.Handoff(id); h != nil {
		return "the offer of " + say(string(h.Kind))
	}
	return "an offer"
}

// sayings are codes of the contract as people say them; any other code is
// said with spaces for its underscores.
var sayings = map[string]string{
	"mha_assessment": "a Mental Health Act assessment", "spoa_referral": "a referral to SPoA", "followup": "follow-up calls",
	"triage_advice": "triage advice", "consider_s136": "consider s136", "health_based_place_of_safety": "health-based place of safety",
	"emergency_department": "emergency department", "detained_s2": "detained under section 2", "detained_s3": "detained under section 3",
	"s12": "s12-approved doctor", "amhp": "AMHP", "bsl": "British Sign Language", "refer_spoa": "refer to SPoA",
	"s136": "the s136 period", "handoff_acknowledge": "time to acknowledge an offer", "other_non_dwelling": "place that is not a dwelling", "handoff_accept": "time to accept an offer",
	"followup_contact": "a follow-up call", "welfare_check": "a welfare check", "s136_detention": "s136 detention",
	"referred_spoa": "referred to SPoA", "amhp_availability": "AMHP availability", "s12_doctor_availability": "s12 doctor availability",
	"cmht": "community mental health team",
}

func say(code string) string {
	if w, ok := sayings[code]; ok {
		return w
	}
	return strings.ReplaceAll(code, "_", " ")
}

func sayAll(codes []string) string {
	out := make([]string, len(codes))
	for i, c := range codes {
		out[i] = say(c)
	}
	return strings.Join(out, ", ")
}
