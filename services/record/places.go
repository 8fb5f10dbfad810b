package record

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/places"
)

// The live directory of places: the record keeps, beside the episodes'
// views, the live state of each place of the directory (places.Live), from
// the providers' place.updated facts. At start it reads them from the
// stream once (PlacesFilter); after that its consumer, which sees every
// fact, hands each one on as it applies it. The state is in memory only:
// rebuilt by replay at every start, like everything else.
//
// Any agency asks for the places a person can go now on its own subject,
// crisisbus.record.<agency>.places (PlacesSubject): the directory ranked for
// one person (open now, with room, for their age, nearest first) with the
// reasons for each place that cannot take them. Nothing in the question or
// the answer is about a person beyond the town, an age and the kinds of
// place sought, so it is not a disclosure of anyone's record.

// PlacesSubject is where agency a asks for the places a person can go:
// PlacesRequest → PlacesResponse.
func PlacesSubject(a events.Agency) string { return "crisisbus.record." + string(a) + ".places" }

// PlacesFilter selects every place.updated fact of the stream.
func PlacesFilter() string {
	spec, _ := events.SpecOf(&events.PlaceUpdated{})
	return events.TypeSubjects(spec)[0]
}

var typePlaceUpdated = func() string { s, _ := events.SpecOf(&events.PlaceUpdated{}); return s.Type() }()

// PlacesRequest asks where a person can go now.
type PlacesRequest struct {
	// Town is where the person is: one of the bundled towns of the
	// directory, so places are ranked nearest first; empty: distance not
	// known.
	Town string `json:"town,omitempty"`
	// Age is the person's age in years; absent: not known (every place is
	// shown, and the desk checks).
	Age *int `json:"age,omitempty" minimum:"0" maximum:"120"`
	// Kinds are the sorts of place sought; none: every sort.
	Kinds []places.Kind `json:"kinds,omitempty"`
	// Referred: a service refers the person, so places taking referrals
	// only may take them.
	Referred bool `json:"referred,omitempty"`
	// At is the moment to route for; absent: now.
	At time.Time `json:"at,omitzero"`
}

// Validate names what is wrong.
func (r *PlacesRequest) Validate() error {
	var errs []error
	if r.Town != "" && !places.IsTown(r.Town) {
		errs = append(errs, fmt.Errorf("town %q is not one of the directory's towns (%s)", r.Town, strings.Join(places.Towns(), ", ")))
	}
	if r.Age != nil && (*r.Age < 0 || *r.Age > 120) {
		errs = append(errs, fmt.Errorf("age %d is not an age in years (0 to 120)", *r.Age))
	}
	for _, k := range r.Kinds {
		if !slices.Contains(places.Kinds, k) {
			errs = append(errs, fmt.Errorf("kind %q is not a kind of place (want one of %v)", k, places.Kinds))
		}
	}
	return errors.Join(errs...)
}

// Enums are the towns and kinds of place Validate takes, for the contract.
func (r *PlacesRequest) Enums() map[string][]string {
	kinds := make([]string, len(places.Kinds))
	for i, k := range places.Kinds {
		kinds[i] = string(k)
	}
	return map[string][]string{"town": places.Towns(), "kinds": kinds}
}

// PlacesResponse is the directory ranked for the person: the places that
// can take them now first, nearest first, then the others, each with why
// not in words and when it next opens; and what the people who run
// crisisbus should know of the directory (its bank holidays running out).
type PlacesResponse struct {
	At       time.Time       `json:"at"`
	Options  []places.Option `json:"options"`
	Warnings []string        `json:"warnings,omitempty"`
}

// livePlaces is the record's live state of the directory's places.
type livePlaces struct {
	dir *places.Directory
	log *zap.Logger
	mu  sync.RWMutex
	st  places.Live
}

// loadPlaces reads every place.updated fact of the stream into a new live state.
func loadPlaces(ctx context.Context, bus *natsbus.Bus, dir *places.Directory, log *zap.Logger) (*livePlaces, error) {
	lp := &livePlaces{dir: dir, log: log, st: places.Live{}}
	n := 0
	_, err := bus.Replay(ctx, PlacesFilter(), func(e events.Event, _ uint64) error {
		lp.apply(e)
		n++
		return nil
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("read the places' updates: %w", err)
	}
	log.Info("read the live state of the directory of places", zap.Int("updates", n), zap.Int("places_with_state", len(lp.st)))
	return lp, nil
}

// apply folds e into the live state if it is a place's update; any other
// fact is not about places.
func (lp *livePlaces) apply(e events.Event) {
	if e.Type != typePlaceUpdated {
		return
	}
	var d events.PlaceUpdated
	if err := e.DecodeInto(&d); err != nil {
		lp.log.Warn("a place's update could not be read", zap.String("event_id", e.ID), zap.String("cause", logsafe.Cause(err)))
		return
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if _, err := lp.st.Apply(lp.dir, places.Update{From: e.Source, PlaceUpdated: d, At: e.Time, By: e.Actor}); err != nil {
		lp.log.Warn("a place's update was not applied", zap.String("event_id", e.ID), zap.String("place", d.Place),
			zap.String("agency", string(e.Source)), zap.String("cause", logsafe.Cause(err)))
	}
}

func (lp *livePlaces) live() places.Live {
	lp.mu.RLock()
	defer lp.mu.RUnlock()
	return maps.Clone(lp.st)
}

func (r *Record) placesFor(_ context.Context, req PlacesRequest) (PlacesResponse, error) {
	at := req.At
	if at.IsZero() {
		at = r.cfg.Now()
	}
	age := -1
	if req.Age != nil {
		age = *req.Age
	}
	need := places.Need{At: at, From: req.Town, Age: age, Kinds: req.Kinds, Referred: req.Referred}
	opts := r.places.dir.Route(need, r.places.live())
	if opts == nil {
		opts = []places.Option{}
	}
	return PlacesResponse{At: at.UTC(), Options: opts, Warnings: r.places.dir.Warnings(at)}, nil
}
