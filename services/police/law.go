package police

import (
	"github.com/crisisbus/crisisbus/services/episode"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// What the police commands refuse. The rules of the Act themselves are in
// package law; these read them against the episode.

// refuse turns a rule of the Act (package law) into a refusal of the command.
func refuse(err error) error {
	if err == nil {
		return nil
	}
	return rpc.Errorf(rpc.Forbidden, "MHA 1983 %v", err)
}

// checkConsulted: s136(1C): before deciding to remove or keep a person the
// officer must, if practicable, consult a registered medical practitioner,
// nurse, AMHP, occupational therapist or paramedic. The consultation, or
// that it was not practicable, is recorded first.
func checkConsulted(v *episode.View) (consulted bool, err error) {
	if v.Consultation != nil {
		return v.Consultation.Practicable, nil
	}
	return false, rpc.Errorf(rpc.Forbidden, "record the consultation before the s136 decision, or that it was not practicable: MHA 1983 s136(1C)")
}

// checkDetained: the s136 commands after detention need a detention in force.
func checkDetained(v *episode.View) error {
	if v.S136 == nil || v.S136.Ended {
		return rpc.Errorf(rpc.Conflict, "no s136 detention is in force on episode %s", v.Episode)
	}
	return nil
}

// personAge is the best known age of the person.
func personAge(v *episode.View, given int) int {
	if given > 0 {
		return given
	}
	if v.S136 != nil && v.S136.AgeYears > 0 {
		return v.S136.AgeYears
	}
	return v.Person.AgeYears
}
