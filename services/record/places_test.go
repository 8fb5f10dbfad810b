package record_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

func placeUpdate(t *testing.T, bus *natsbus.Bus, at time.Time, by string, u events.PlaceUpdated) events.Event {
	t.Helper()
	e, err := events.New(bus.Agency(), places.Subject(u.Place), &u, events.At(at), events.By(by))
	if err == nil {
		err = events.Validate(e)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Publish(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

func n(i int) *int { return &i }

// suite finds the Dartford children's suite among the options.
func suite(opts []places.Option) (places.Option, error) {
	for _, o := range opts {
		if o.Place.ID == "pos-dartford-children" {
			return o, nil
		}
	}
	return places.Option{}, fmt.Errorf("the children's suite is not among %d options", len(opts))
}

// The record keeps the live state of the directory of places from the
// providers' updates: a child's place of safety asked for by the ambulance
// service shows the Dartford suite with no room once the trust says a child
// is there, with who said so; an update of the suite by police (who do not
// provide it) changes nothing; no episode view is made for a place; and a
// record started again rebuilds the same state from the stream, however
// many updates there were (the consumer folds a backlog in runs).
func TestTheRecordKeepsTheLiveDirectoryAndAnswersWhereAPersonCanGo(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	spoa := bustest.Bus(t, b, events.SPoA)
	police := bustest.Bus(t, b, events.Police)
	haven := bustest.Bus(t, b, events.SafeHaven)
	ambulance := bustest.Bus(t, b, events.Ambulance)
	rec := bustest.Bus(t, b, events.Record)
	friday := time.Date(2026, 11, 20, 21, 0, 0, 0, places.London)

	// A busy evening before the record starts: the havens' counts go up
	// and down (more than record.RunFrom updates), then the trust says the
	// children's suite holds one child, and police send a forged word.
	for i := range record.RunFrom + 6 {
		placeUpdate(t, haven, friday.Add(-3*time.Hour+time.Duration(i)*time.Minute), "Robin Hale", events.PlaceUpdated{Place: "haven-gillingham", Free: n(i % 7)})
	}
	placeUpdate(t, spoa, friday.Add(-30*time.Minute), "Nurse in charge, Dartford", events.PlaceUpdated{Place: "pos-dartford-children", Free: n(1)})
	placeUpdate(t, police, friday.Add(-10*time.Minute), "PC Dee", events.PlaceUpdated{Place: "pos-dartford-children", Free: n(2)})

	ask := func() (places.Option, record.PlacesResponse, error) {
		resp, err := rpc.Call[record.PlacesRequest, record.PlacesResponse](ctx, ambulance.Conn(), record.PlacesSubject(events.Ambulance),
			record.PlacesRequest{Town: "Gravesend", Age: n(15), Kinds: []places.Kind{places.HealthBasedPlaceOfSafety}, Referred: true, At: friday})
		if err != nil {
			return places.Option{}, resp, err
		}
		o, err := suite(resp.Options)
		return o, resp, err
	}
	check := func(r *record.Record) {
		t.Helper()
		bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			o, resp, err := ask()
			if err != nil {
				return err
			}
			if o.Usable || o.Free != 0 || len(o.Why) == 0 || !strings.Contains(o.Why[0], "no room: someone is placed there already") ||
				!strings.Contains(o.Why[0], "1 of 2 free, said today 20:30 by Nurse in charge, Dartford") {
				return fmt.Errorf("the children's suite: usable %v, free %d, why %q", o.Usable, o.Free, o.Why)
			}
			for _, x := range resp.Options {
				if x.Usable {
					return fmt.Errorf("%s is offered for a 15-year-old, but only the children's suite takes children", x.Place.Name)
				}
			}
			return nil
		})
		for _, id := range []string{"pos-dartford-children", "haven-gillingham"} {
			if _, _, ok, err := r.Store().Get(ctx, places.Subject(id)); ok || err != nil {
				t.Fatalf("the record made an episode view for the place %s (%v)", id, err)
			}
		}
	}

	r, err := record.Start(ctx, record.Config{Bus: rec})
	if err != nil {
		t.Fatal(err)
	}
	check(r)
	// After start, updates arrive through the consumer: the suite is free again.
	placeUpdate(t, spoa, friday.Add(-5*time.Minute), "Nurse in charge, Dartford", events.PlaceUpdated{Place: "pos-dartford-children", Free: n(2)})
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		o, _, err := ask()
		if err == nil && !o.Usable {
			err = fmt.Errorf("the suite is still shown %q after the trust said both beds are free", o.Why)
		}
		return err
	})
	r.Stop()

	// Started again (the consumer has nothing left to deliver), the record
	// reads the state back from the stream.
	placeUpdate(t, spoa, friday.Add(-time.Minute), "Nurse in charge, Dartford", events.PlaceUpdated{Place: "pos-dartford-children", Free: n(1)})
	if err := record.Rebuild(ctx, rec.JetStream()); err != nil {
		t.Fatal(err)
	}
	r2, err := record.Start(ctx, record.Config{Bus: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		o, _, err := ask()
		if err == nil && (o.Usable || !strings.Contains(o.Checked, "said today 20:59")) {
			err = fmt.Errorf("after a restart the suite is %v, %q", o.Usable, o.Why)
		}
		return err
	})
}

// A question the directory cannot answer is refused naming what was wrong.
func TestAQuestionAboutPlacesNamesWhatIsWrong(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	crisisline := bustest.Bus(t, b, events.Crisisline)
	r, err := record.Start(ctx, record.Config{Bus: bustest.Bus(t, b, events.Record)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	_, err = rpc.Call[record.PlacesRequest, record.PlacesResponse](ctx, crisisline.Conn(), record.PlacesSubject(events.Crisisline),
		record.PlacesRequest{Town: "Atlantis", Age: n(200), Kinds: []places.Kind{"spa"}})
	if rpc.CodeOf(err) != 400 {
		t.Fatalf("a bad question: %v, want a 400", err)
	}
	for _, says := range []string{`town "Atlantis" is not one of the directory's towns`, "age 200 is not an age", `kind "spa" is not a kind of place`} {
		if !strings.Contains(err.Error(), says) {
			t.Errorf("the refusal %q does not say %q", err, says)
		}
	}
}
