package episode

import (
	"fmt"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// describe writes one fact as a line a person in any agency can read. It
// never includes a clinical field (health history, clinical notes): those go
// only to View.Clinical.
func describe(e events.Event, data any) string {
	who := e.Source.Title()
	switch d := data.(type) {
	case *events.EpisodeOpened:
		return fmt.Sprintf("%s opened the episode (%s): %s", who, d.Channel, d.Summary)
	case *events.EpisodeLinked:
		return fmt.Sprintf("Linked to episode %s, the same person (matched on %s): %s", d.OtherEpisode, strings.Join(d.MatchedOn, ", "), d.Reason)
	case *events.EpisodeClosed:
		return fmt.Sprintf("%s closed the episode: %s", who, d.Reason)
	case *events.PersonIdentified:
		var parts []string
		if n := strings.TrimSpace(d.GivenName + " " + d.FamilyName); n != "" {
			parts = append(parts, n)
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
		return "Identified: " + strings.Join(parts, ", ")
	case *events.PersonVoiceRecorded:
		s := fmt.Sprintf("In their own words: %q", d.OwnWords)
		if len(d.CommunicationNeeds) > 0 {
			s += "; needs: " + strings.Join(d.CommunicationNeeds, ", ")
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
		return fmt.Sprintf("Triage advice: %s (recommends %s%s)", d.Advice, d.RecommendedAction, known)
	case *events.StreetTriageDispatched:
		return "Street triage dispatched: " + d.Team
	case *events.StreetTriageOutcome:
		return "Street triage outcome: " + d.Outcome + avoided(d.S136Avoided)
	case *events.RcrpDecided:
		attend := "police do not attend"
		if d.PoliceAttend {
			attend = "police attend"
		}
		resp := ""
		if d.RespondingAgency != "" {
			resp = "; " + d.RespondingAgency + " responds"
		}
		return fmt.Sprintf("Right Care, Right Person: %s (%s)%s: %s", attend, d.Grounds, resp, d.Rationale)
	case *events.AmbulanceCallTriaged:
		s := "Call triaged: " + d.Response
		if !d.PhysicalHealthConcern {
			s += "; no physical health concern"
		}
		if d.MentalHealthWorkerInvolved {
			s += "; EOC mental health worker involved"
		}
		return s
	case *events.AmbulanceConveyance:
		if d.Conveyed {
			return fmt.Sprintf("Conveyed to %s %s: %s", d.Destination, d.DestinationName, d.Reason)
		}
		return "Not conveyed: " + d.Reason
	case *events.HandoffOffered:
		return fmt.Sprintf("%s offered the episode to %s (%s, %s), carrying %d facts: %s", who, d.To.Title(), d.Kind, d.Urgency, len(d.Summary.Facts), d.Reason)
	case *events.HandoffAcknowledged:
		return fmt.Sprintf("%s acknowledged handoff %s", who, d.HandoffID)
	case *events.HandoffAccepted:
		return fmt.Sprintf("%s accepted handoff %s (%s) and owns the episode", who, d.HandoffID, d.AcceptedBy)
	case *events.HandoffDeclined:
		return fmt.Sprintf("%s declined handoff %s (%s): %s", who, d.HandoffID, d.Reason, d.Detail)
	case *events.HandoffCancelled:
		return fmt.Sprintf("%s cancelled handoff %s: %s", who, d.HandoffID, d.Reason)
	case *events.HandoffCompleted:
		return fmt.Sprintf("%s completed handoff %s: %s", who, d.HandoffID, d.Outcome)
	case *events.S136Consulted:
		if !d.Practicable {
			return "Consultation before s136 was not practicable: " + d.Advice
		}
		return fmt.Sprintf("Consulted %s before s136: %s", d.Professional, d.Advice)
	case *events.S136Detained:
		kept := ""
		if d.KeptWhereTheyAre {
			kept = "; kept where they are"
		}
		return fmt.Sprintf("Detained under s136 at a %s at %s (aged %d; consulted first: %s%s)",
			strings.ReplaceAll(d.LocationType, "_", " "), hhmm(d.DetainedAt), d.AgeYears, yes(d.Consulted), kept)
	case *events.PlaceOfSafetyRequested:
		return "Place of safety requested" + prefix(": ", string(d.PreferredType))
	case *events.PlaceOfSafetyAllocated:
		return fmt.Sprintf("Place of safety allocated: %s (%s)", d.PlaceName, d.PlaceType)
	case *events.PlaceOfSafetyArrived:
		return fmt.Sprintf("Arrived at %s (%s) at %s", d.PlaceName, d.PlaceType, hhmm(d.ArrivedAt))
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
		return fmt.Sprintf("Doctor allocated: %s (%s%s)", d.Doctor, d.Role, s12)
	case *events.AssessmentDelayed:
		return "Assessment delayed: " + strings.ReplaceAll(d.Cause, "_", " ")
	case *events.AssessmentCompleted:
		return fmt.Sprintf("Assessment completed at %s: %s", hhmm(d.CompletedAt), strings.ReplaceAll(d.Outcome, "_", " "))
	case *events.FollowupContactScheduled:
		return fmt.Sprintf("Follow-up call %d scheduled for %s", d.ContactNumber, d.DueAt.Format("Mon 2 Jan 15:04"))
	case *events.FollowupContactAttempted:
		return fmt.Sprintf("Follow-up call %d: %s%s", d.ContactNumber, strings.ReplaceAll(d.Outcome, "_", " "), riskSuffix(d.Risk))
	case *events.FollowupEscalated:
		return fmt.Sprintf("Escalated to SPoA (risk %s): %s", d.Risk, d.Reason)
	case *events.FollowupCompleted:
		return fmt.Sprintf("Follow-up completed: %d contacts made", d.ContactsMade)
	case *events.HavenArrived:
		if !d.Taken {
			return fmt.Sprintf("At the safe haven %s at %s, not taken in: %s", d.Haven, hhmm(d.ArrivedAt), d.NotTakenReason)
		}
		return fmt.Sprintf("Arrived at the safe haven %s at %s (%s)", d.Haven, hhmm(d.ArrivedAt), strings.ReplaceAll(d.How, "_", " "))
	case *events.HavenSupportGiven:
		return "Safe haven support: " + strings.ReplaceAll(strings.Join(d.Support, ", "), "_", " ") + prefix("; the plan, in their words: ", d.Plan)
	case *events.HavenLeft:
		return fmt.Sprintf("Left the safe haven at %s: %s", hhmm(d.LeftAt), havenOutcome(d.Outcome)) + prefix(": ", d.Detail)
	case *events.ClockWarning:
		return fmt.Sprintf("%s clock warning for %s: %d min left (due %s)", d.Clock, d.Owner.Title(), d.SecondsLeft/60, hhmm(d.DueAt))
	case *events.ClockBreached:
		return fmt.Sprintf("%s clock breached for %s: %d min over (due %s)", d.Clock, d.Owner.Title(), d.SecondsOver/60, hhmm(d.DueAt))
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

func hhmm(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }
