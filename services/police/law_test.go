package police

import (
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/rpc"
)

func TestPoliceStationIsRefusedForChildrenAndForAdultsWithoutTheConditions(t *testing.T) {
	all := &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true, InspectorAuthorisation: "Insp. Cole", HealthProfessionalConsulted: true}
	cases := []struct {
		name  string
		place events.PlaceType
		age   int
		cond  *events.PoliceStationConditions
		ok    bool
	}{
		{"adult at a health-based place of safety", events.HealthBasedPlaceOfSafety, 30, nil, true},
		{"adult at a police station with every condition", events.PoliceStation, 30, all, true},
		{"17-year-old at a police station, every adult condition met", events.PoliceStation, 17, all, false},
		{"adult at a police station with no conditions recorded", events.PoliceStation, 30, nil, false},
		{"adult at a police station without an inspector", events.PoliceStation, 30, &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: true, NoOtherPlaceAvailable: true, HealthProfessionalConsulted: true}, false},
	}
	for _, c := range cases {
		err := checkPoliceStation(c.place, c.age, c.cond)
		if (err == nil) != c.ok || (err != nil && rpc.CodeOf(err) != rpc.Forbidden) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	for _, lt := range []string{"private_dwelling", "garden", "outbuilding"} {
		if err := checkNotPrivateDwelling(lt); err == nil {
			t.Errorf("s136 allowed at a %s", lt)
		}
	}
	if err := checkNotPrivateDwelling("public_place"); err != nil {
		t.Errorf("s136 refused in a public place: %v", err)
	}
}
