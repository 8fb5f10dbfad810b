package police

import (
	"strings"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/episode"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The Mental Health Act 1983 (as amended by the Policing and Crime Act
// 2017) rules the police commands refuse to break. They are small pure
// functions so they can move to the shared law package, next to the s136
// clock, when that lands.

// dwellingWords are location types that are a private dwelling or part of one.
var dwellingWords = []string{"dwelling", "home", "house", "flat", "garden", "outbuilding", "residence"}

// checkNotPrivateDwelling: s136(1) and (1A): the power may be used anywhere
// except a private dwelling, its garden or outbuildings (any house, flat or
// room where a person lives, and its yard, garden, garage or outhouse).
func checkNotPrivateDwelling(locationType string) error {
	lt := strings.ToLower(locationType)
	for _, w := range dwellingWords {
		if strings.Contains(lt, w) {
			return rpc.Errorf(rpc.Forbidden, "s136 cannot be used at a %s: MHA 1983 s136(1) excludes any private dwelling, its garden and outbuildings (consider a s135 warrant)", strings.ReplaceAll(locationType, "_", " "))
		}
	}
	return nil
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

// checkPoliceStation: s136A(1): a person under 18 may not be removed to,
// kept at or taken to a police station as a place of safety. s136A(2)(b)
// and the Mental Health Act 1983 (Places of Safety) Regulations 2017, regs
// 2 to 4: an adult only if the behaviour poses an imminent risk of serious
// injury or death, no other place of safety can reasonably be expected to
// detain them, an officer of at least the rank of inspector authorises it,
// and a health professional is consulted where practicable (welfare is then
// checked at least every 30 minutes).
func checkPoliceStation(place events.PlaceType, age int, c *events.PoliceStationConditions) error {
	if place != events.PoliceStation {
		return nil
	}
	if age > 0 && age < 18 {
		return rpc.Errorf(rpc.Forbidden, "a police station is never a place of safety for a person under 18 (aged %d): MHA 1983 s136A(1)", age)
	}
	if c == nil {
		return rpc.Errorf(rpc.Forbidden, "an adult may be held in a police station only with the conditions recorded (imminent risk, no other place, inspector's authorisation, health professional consulted): MHA 1983 s136A(2)(b) and the Places of Safety Regulations 2017")
	}
	var missing []string
	if !c.ImminentRiskOfSeriousHarm {
		missing = append(missing, "imminent risk of serious injury or death (reg 2)")
	}
	if !c.NoOtherPlaceAvailable {
		missing = append(missing, "no other place of safety available (reg 2)")
	}
	if strings.TrimSpace(c.InspectorAuthorisation) == "" {
		missing = append(missing, "an inspector's authorisation (reg 3)")
	}
	if !c.HealthProfessionalConsulted {
		missing = append(missing, "a health professional consulted (reg 3)")
	}
	if len(missing) > 0 {
		return rpc.Errorf(rpc.Forbidden, "a police station is not a place of safety here without %s: MHA 1983 s136A(2)(b) and the Places of Safety Regulations 2017", strings.Join(missing, ", "))
	}
	return nil
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
