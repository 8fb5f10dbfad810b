package system

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
)

// Every pathway agency of the agency table (events/agency.go) runs its
// service, and no service runs for an agency the table does not have.
func TestEveryAgencyOfTheTableRunsItsService(t *testing.T) {
	var running []events.Agency
	for _, a := range agencies {
		running = append(running, a.agency)
	}
	if !slices.Equal(running, events.Agencies) {
		t.Errorf("the services run for %v; the agency table's pathway agencies are %v", running, events.Agencies)
	}
}

// The services README's table of what runs names each agency's service
// as the agency table does (its name, its NATS user, its micro service,
// its part in the pathway).
func TestTheServicesREADMEListsEveryAgencyOfTheTable(t *testing.T) {
	raw, err := os.ReadFile("../../services/README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	for _, a := range events.AgencyTable() {
		if !a.Pathway {
			continue
		}
		row := "| " + a.Title + " | `" + string(a.ID) + "` | `crisisbus-" + string(a.ID) + "` | " + a.Part + " |"
		if !slices.Contains(lines, row) {
			t.Errorf("services/README.md has no row\n%s", row)
		}
	}
}
