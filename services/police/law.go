package police

import (
	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// What the police commands refuse. The rules of the Act themselves are in
// package law; these read them against the episode.

// refuse turns a rule of the Act (package law) into a refusal of the command.
func refuse(err error) error {
	if err == nil {
		return nil
	}
	return events.Errorf(events.Forbidden, "MHA 1983 %v", err)
}

// checkConsulted: s136(1C) (law.CheckConsulted), read against the episode:
// the consultation, or that it was not practicable, is recorded first.
func checkConsulted(v *episode.View) (consulted bool, err error) {
	if err := law.CheckConsulted(v.Consultation != nil); err != nil {
		return false, refuse(err)
	}
	return v.Consultation.Practicable, nil
}

// checkDetained: the s136 commands after detention need a detention in force.
func checkDetained(v *episode.View) error {
	if v.S136 == nil || v.S136.Ended {
		return events.Errorf(events.Conflict, "no s136 detention is in force on episode %s", v.Episode)
	}
	return nil
}
