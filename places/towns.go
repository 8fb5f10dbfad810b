package places

import (
	"math"
	"slices"
	"strings"
)

// town is a town of Kent and Medway with its rough centre, enough to rank
// places by distance (a few kilometres out changes no ranking that matters).
type town struct {
	name     string
	lat, lon float64
}

var towns = []town{
	{"Ashford", 51.146, 0.875},
	{"Broadstairs", 51.359, 1.440},
	{"Canterbury", 51.280, 1.079},
	{"Chatham", 51.378, 0.528},
	{"Cranbrook", 51.097, 0.535},
	{"Dartford", 51.446, 0.218},
	{"Deal", 51.223, 1.398},
	{"Dover", 51.127, 1.313},
	{"Edenbridge", 51.197, 0.065},
	{"Faversham", 51.316, 0.891},
	{"Folkestone", 51.081, 1.166},
	{"Gillingham", 51.389, 0.549},
	{"Gravesend", 51.441, 0.371},
	{"Herne Bay", 51.373, 1.128},
	{"Hythe", 51.072, 1.084},
	{"Maidstone", 51.272, 0.529},
	{"Margate", 51.389, 1.386},
	{"New Romney", 50.985, 0.941},
	{"Paddock Wood", 51.182, 0.390},
	{"Ramsgate", 51.336, 1.416},
	{"Rochester", 51.388, 0.507},
	{"Sandwich", 51.274, 1.339},
	{"Sevenoaks", 51.272, 0.190},
	{"Sheerness", 51.441, 0.760},
	{"Sittingbourne", 51.340, 0.734},
	{"Snodland", 51.330, 0.443},
	{"Strood", 51.393, 0.478},
	{"Swanley", 51.397, 0.173},
	{"Tenterden", 51.069, 0.689},
	{"Tonbridge", 51.195, 0.275},
	{"Tunbridge Wells", 51.132, 0.263},
	{"West Malling", 51.295, 0.409},
	{"Whitstable", 51.361, 1.025},
}

// Towns are the names of the bundled towns, in order.
func Towns() []string {
	out := make([]string, len(towns))
	for i, t := range towns {
		out[i] = t.name
	}
	return out
}

// findTown returns the bundled town of that name, whatever its case.
func findTown(name string) (town, bool) {
	i := slices.IndexFunc(towns, func(t town) bool { return strings.EqualFold(t.name, strings.TrimSpace(name)) })
	if i < 0 {
		return town{}, false
	}
	return towns[i], true
}

// Km is the distance in kilometres between two bundled towns, as the crow
// flies; ok is false when either is not a bundled town.
func Km(from, to string) (km float64, ok bool) {
	a, ok1 := findTown(from)
	b, ok2 := findTown(to)
	if !ok1 || !ok2 {
		return 0, false
	}
	const r = 6371.0
	rad := math.Pi / 180
	dlat, dlon := (b.lat-a.lat)*rad, (b.lon-a.lon)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(a.lat*rad)*math.Cos(b.lat*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(h)), true
}
