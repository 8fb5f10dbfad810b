package agency

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/places"
)

// PlaceUpdateRequest: a place's provider says how it stands now (the
// trust its places of safety and liaison services, the safe haven service
// its havens, police street triage). Every agency answers the command; the
// directory of places says which places it provides, and any other is
// refused (403).
type PlaceUpdateRequest struct {
	Actor string `json:"actor" schema:"cloudevent.json#/properties/actor"` // the person saying so
	events.PlaceUpdated
}

// Validate names what is missing.
func (r *PlaceUpdateRequest) Validate() error {
	var errs []error
	if r.Actor == "" {
		errs = append(errs, errors.New("actor is required (who is acting)"))
	}
	if r.Place == "" {
		errs = append(errs, errors.New("place is required (its id in the directory of places)"))
	}
	return errors.Join(errs...)
}

// PlaceReceipt says what was stored: the place.updated event, on the
// place's own subject (places.Subject).
type PlaceReceipt struct {
	Place    string `json:"place"`
	Subject  string `json:"subject"`
	Event    string `json:"event"`
	Sequence uint64 `json:"sequence"`
}

// directory is the kit's directory of places.
func (k *Kit) directory() (*places.Directory, error) {
	if k.Places != nil {
		return k.Places, nil
	}
	return places.Default()
}

// UpdatePlace records a place's live state, if the kit's agency provides
// the place. A place's update is not about an episode, so there is no
// episode to read first: the latest update of a place wins.
func (k *Kit) UpdatePlace(ctx context.Context, req PlaceUpdateRequest) (PlaceReceipt, error) {
	d, err := k.directory()
	if err != nil {
		return PlaceReceipt{}, err
	}
	u := req.PlaceUpdated
	if !u.Closed {
		u.Reason = "" // a reason is for a closure
	}
	if err := d.CheckUpdate(k.Agency(), u); err != nil {
		return PlaceReceipt{}, err
	}
	subject := places.Subject(u.Place)
	e, err := events.New(k.Agency(), subject, &u, events.At(k.Time()), events.By(req.Actor))
	if err == nil {
		err = events.Validate(e)
	}
	if err != nil {
		if errors.Is(err, events.ErrInvalid) {
			return PlaceReceipt{}, events.Errorf(events.Invalid, "%v", err)
		}
		return PlaceReceipt{}, err
	}
	ack, err := k.Bus.Publish(ctx, e)
	if err != nil {
		return PlaceReceipt{}, fmt.Errorf("record the update of %s: %w", u.Place, err)
	}
	k.log().Info("place updated", zap.String("place", u.Place), zap.String("event_id", e.ID),
		zap.String("agency", string(k.Agency())), zap.Bool("closed", u.Closed))
	return PlaceReceipt{Place: u.Place, Subject: subject, Event: e.ID, Sequence: ack.Sequence}, nil
}
