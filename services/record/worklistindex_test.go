package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"
)

// The worklists the record keeps (read without a scan of every episode)
// are exactly what reading every view gives, for every agency, as
// episodes open, are handed on, accepted and closed.
func TestTheWorklistsTheRecordKeepsAreWhatEveryViewSays(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	amhp := bustest.Bus(t, b, events.AMHP)
	r, err := record.Start(ctx, record.Config{Bus: bustest.Bus(t, b, events.Record), Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	publish := func(evs ...events.Event) {
		for _, e := range evs {
			bus := police
			if e.Source == events.AMHP {
				bus = amhp
			}
			if _, err := bus.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	same := func(when string) {
		t.Helper()
		bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if !r.Store().WorklistsKept() {
				return fmt.Errorf("%s: the record does not keep the worklists yet", when)
			}
			for _, a := range events.Agencies {
				kept, err := r.Store().Worklist(ctx, a)
				if err != nil {
					return err
				}
				scanned, err := r.Store().ScanWorklist(ctx, a)
				if err != nil {
					return err
				}
				k, _ := json.Marshal(kept)
				s, _ := json.Marshal(scanned)
				if string(k) != string(s) {
					return fmt.Errorf("%s, %s worklist: kept %s, every view says %s", when, a, k, s)
				}
				keptOn, err := r.Store().HandedOn(ctx, a)
				if err != nil {
					return err
				}
				scannedOn, err := r.Store().ScanHandedOn(ctx, a)
				if err != nil {
					return err
				}
				k, _ = json.Marshal(keptOn)
				s, _ = json.Marshal(scannedOn)
				if string(k) != string(s) {
					return fmt.Errorf("%s, %s handed on: kept %s, every view says %s", when, a, k, s)
				}
			}
			return nil
		})
	}
	var eps []string
	var nights [][]events.Event
	for range 3 {
		ep := events.NewEpisodeID()
		eps = append(eps, ep)
		nights = append(nights, night(t, ep))
		publish(nights[len(nights)-1][:5]...) // offered to the AMHP service, not yet answered
	}
	// Once the record has applied the three offers, the AMHP worklist
	// holds them, and it is what every view says.
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if items, _ := r.Store().ScanWorklist(ctx, events.AMHP); len(items) != 3 {
			return fmt.Errorf("the record shows %d of the 3 offers", len(items))
		}
		return nil
	})
	same("three detentions offered to the AMHP service")
	amhpItems, _ := r.Store().Worklist(ctx, events.AMHP)
	if len(amhpItems) != 3 {
		t.Fatalf("the AMHP worklist holds %d episodes, want the 3 offered", len(amhpItems))
	}
	publish(nights[0][5:]...) // the rest of the night: accepted and assessed
	publish(fact(t, events.Police, eps[1], &events.EpisodeClosed{Reason: "duplicate of another call"}))
	same("one accepted, one closed")
	// The control room handed on the one the AMHP service accepted; the
	// offer not yet answered is still its own, on its worklist.
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if on, _ := r.Store().HandedOn(ctx, events.Police); len(on) != 1 || on[0].Episode != eps[0] || on[0].Owner != events.AMHP {
			return fmt.Errorf("the control room's handed-on list: %+v, want only %s, which the AMHP service holds", on, eps[0])
		}
		return nil
	})
	same("the accepted one handed on")
}
