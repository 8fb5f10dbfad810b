package law

import (
	"fmt"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// ExtensionFromEvent reads an s136.extended fact as an extension request made
// by the given role (the contract records the doctor by name; the caller
// says in what role they acted).
func ExtensionFromEvent(by Role, x events.S136Extended) ExtensionRequest {
	return ExtensionRequest{By: by, Doctor: x.Doctor, Length: time.Duration(x.Hours) * time.Hour,
		Reason: x.Reason, SuperintendentApproval: x.SuperintendentApproval, At: x.ExtendedAt}
}

// Apply updates the detention with one recorded fact, the data of an
// s136.detained, place_of_safety.arrived, s136.extended (taken as made by
// the examining doctor), s136.released or assessment.completed event, so a
// service builds the detention from an episode's timeline. Applying the same
// fact twice changes nothing, except an extension, which is refused the
// second time (ErrExtensionAgain). A refused extension leaves d unchanged
// and returns the rules it broke. Other data is ignored.
//
// An s136.detained at another time than the one d holds is a new detention
// (the person detained again in the same episode): it starts from nothing,
// as the episode's view starts a new s136 record, and the earlier
// detention's arrival, extension and end are not its own.
func (d *Detention) Apply(data any) error {
	switch v := data.(type) {
	case *events.S136Detained:
		if !d.DetainedAt.IsZero() && !d.DetainedAt.Equal(v.DetainedAt) {
			*d = Detention{}
		}
		d.DetainedAt, d.KeptWhereTheyAre, d.AgeYears = v.DetainedAt, v.KeptWhereTheyAre, v.AgeYears
		if v.KeptWhereTheyAre && d.Place == "" {
			d.Place = events.KeptWhereTheyAre
		}
	case *events.PlaceOfSafetyArrived:
		// The period runs from the first arrival; a transfer (s136(3)) moves
		// the person, not the start.
		if d.ArrivedAt.IsZero() || v.ArrivedAt.Before(d.ArrivedAt) {
			d.ArrivedAt = v.ArrivedAt
		}
		d.Place = v.PlaceType
	case *events.S136Extended:
		next, err := Extend(*d, ExtensionFromEvent(ExaminingDoctor, *v))
		if err != nil {
			return fmt.Errorf("extension by %s: %w", v.Doctor, err)
		}
		*d = next
	case *events.S136Released:
		if d.EndedAt.IsZero() {
			d.EndedAt = v.ReleasedAt
		}
	case *events.AssessmentCompleted:
		if d.EndedAt.IsZero() {
			d.EndedAt = v.CompletedAt
		}
	}
	return nil
}
