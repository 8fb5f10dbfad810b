package places

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/crisisbus/crisisbus/events"
)

// A place's live state travels on the bus as place.updated events, in the
// one subject scheme crisis.<agency>.<episode>.<type>: a place is not an
// episode, so its updates carry the place's own id on the bus, Subject,
// where an episode's facts carry the episode id. The episode record's fold
// ignores them (episode.OnTimeline); the record keeps the directory's live
// state from them (services/record, places.go).

// namespace is the UUID namespace of places' ids on the bus. It never
// changes: a place keeps its subject for good.
var namespace = uuid.MustParse("5f0c2c1e-7a43-4b0e-9d5e-0c7a1d2f3e4b")

// Subject is the place's id on the bus: the subject of its place.updated
// events, the same for the same place id wherever it is computed.
func Subject(placeID string) string {
	return uuid.NewSHA1(namespace, []byte("crisisbus/place/"+placeID)).String()
}

// Update is one place.updated fact: what a place's provider said, who and when.
type Update struct {
	From events.Agency // the agency that published it
	events.PlaceUpdated
	At time.Time // when it was said
	By string    // the person who said it
}

// CheckUpdate says whether agency a may say u about one of the directory's
// places: the place exists, a provides it, and the places free are within
// its capacity. The refusal is an events.Refusal: Invalid for a wrong
// place or number, Forbidden for an agency that does not provide the place.
func (d *Directory) CheckUpdate(a events.Agency, u events.PlaceUpdated) error {
	p, ok := d.Place(u.Place)
	if !ok {
		return events.Errorf(events.Invalid, "place %q is not in the directory of places", u.Place)
	}
	if p.Provider == "" || p.Provider != string(a) {
		who := "nobody on the bus: its hours alone say when it is open"
		if p.Provider != "" {
			who = events.Agency(p.Provider).Title()
		}
		return events.Errorf(events.Forbidden, "the %s does not provide %s (%s); it is updated by %s", a.Title(), p.Name, p.ID, who)
	}
	if u.Free != nil && p.Capacity == 0 {
		return events.Errorf(events.Invalid, "%s does not count its places (no capacity in the directory): leave free out", p.Name)
	}
	if u.Free != nil && (*u.Free < 0 || *u.Free > p.Capacity) {
		return events.Errorf(events.Invalid, "free is %d, but %s has %d places: give 0 to %d", *u.Free, p.Name, p.Capacity, p.Capacity)
	}
	if u.Closed && u.Reason == "" {
		return events.Errorf(events.Invalid, "reason is required when %s is closed against its hours: say why, so others can tell the person", p.Name)
	}
	return nil
}

// Apply folds one update into the live state and says whether it changed
// it. An update the directory does not allow (CheckUpdate: an agency that
// does not provide the place, say) is ignored and the reason returned, so a
// fact on the bus can never change what it may not; an update older than
// the state already held changes nothing, so replaying updates in any
// order gives the same state.
func (l Live) Apply(d *Directory, u Update) (bool, error) {
	if err := d.CheckUpdate(u.From, u.PlaceUpdated); err != nil {
		return false, fmt.Errorf("update of place %s by %s ignored: %w", u.Place, u.From, err)
	}
	if cur, ok := l[u.Place]; ok && u.At.Before(cur.At) {
		return false, nil
	}
	st := State{Closed: u.Closed, At: u.At, By: u.By}
	if u.Closed {
		st.Reason = u.Reason
	}
	if u.Free != nil {
		n := *u.Free
		st.Free = &n
	}
	l[u.Place] = st
	return true, nil
}
