package console

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// A place's provider says how it stands now, from its worklist page: open
// as usual or closed (and why), and how many places are free where places
// are counted (a safe haven, a place of safety). The agency's service
// checks that the agency provides the place (place.update); the page lists
// only the agency's own places. Its form is in web/agency_ourplaces.html.
var ourPlacesActions = map[string]action{
	"place-update": {
		agencies: providers(),
		required: [][2]string{{"place", "Choose which place"}, {"state", "Choose whether it is open"}},
		first:    "state",
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			u := events.PlaceUpdated{Place: in.get("place"), Closed: in.get("state") == "closed", Reason: in.get("reason")}
			if u.Closed && u.Reason == "" {
				return "", "", fieldErr("reason", "Enter why it is closed, for the services sending people there")
			}
			if s := in.get("free"); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil || n < 0 || n > 1000 {
					return "", "", fieldErr("free", "Enter the places free as a whole number, like 2, or leave it empty")
				}
				u.Free = &n
			}
			err := call(ctx, c, in, in.agency, "place.update", agency.PlaceUpdateRequest{Actor: in.actor, PlaceUpdated: u})
			name := u.Place
			if d, derr := places.Default(); derr == nil {
				if p, ok := d.Place(u.Place); ok {
					name = p.Name
				}
			}
			return "", "Recorded how " + name + " stands now: the services sending people there see it.", err
		},
	},
}

// providers are the agencies that provide a place of the directory.
func providers() []events.Agency {
	d, err := places.Default()
	if err != nil {
		return nil
	}
	var out []events.Agency
	for _, p := range d.Places {
		if a := events.Agency(p.Provider); p.Provider != "" && !contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func init() { addActions(ourPlacesActions) }

// ourPlace is one of the agency's places as the directory has it now.
type ourPlace struct {
	places.Option
	State string // how it stands now, in words
}

// ourPlaces is the agency's places with their live state, from the
// record's directory (its own places query); nil when it provides none.
func (c *Server) ourPlaces(r *http.Request, a events.Agency) ([]ourPlace, error) {
	if !contains(providers(), a) {
		return nil, nil
	}
	resp, err := rpc.Call[record.PlacesRequest, record.PlacesResponse](r.Context(), c.nc, record.PlacesSubject(a), record.PlacesRequest{Referred: true})
	if err != nil {
		c.log.Error("places of the provider", zap.String("agency", string(a)), zap.String("cause", logsafe.Cause(err)))
		return nil, err
	}
	var out []ourPlace
	for _, o := range resp.Options {
		if o.Place.Provider != string(a) {
			continue
		}
		state := "Open as usual"
		switch {
		case !o.Open && len(o.Why) > 0:
			state = strings.ToUpper(o.Why[0][:1]) + o.Why[0][1:]
		case o.Checked != "":
			state = "Open: " + o.Checked
		}
		out = append(out, ourPlace{Option: o, State: state})
	}
	return out, nil
}

// OurPlaceSelect is the choice of the agency's own places on its worklist
// page.
func (p page) OurPlaceSelect() formField {
	var opts []string
	if d, ok := p.Data.(homeData); ok {
		for _, o := range d.Places {
			opts = append(opts, o.Place.ID+"|"+o.Place.Name+", "+o.Place.Town)
		}
	}
	return p.Select("place-update", "place", "Which place", "", opts...)
}
