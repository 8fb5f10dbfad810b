package system

import (
	"context"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/ambulance"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/crisisline"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/spoa"
)

// recordService is the episode record: the agencies ask it for an
// episode's state, so it starts before them.
var recordService = Service{Name: "episode-record", Agency: events.Record, Start: func(ctx context.Context, d Deps) (Stopper, error) {
	return record.Start(ctx, record.Config{Bus: d.Bus, Log: d.Log, Now: d.Now})
}}

// agencyServices are the five agency services, each connected as its own
// NATS user (so the server enforces who may publish what).
func agencyServices() []Service {
	var out []Service
	for _, a := range []struct {
		agency events.Agency
		start  func(context.Context, *agency.Kit) (*agency.Service, error)
	}{
		{events.Police, police.Start},
		{events.Ambulance, ambulance.Start},
		{events.SPoA, spoa.Start},
		{events.AMHP, amhp.Start},
		{events.Crisisline, crisisline.Start},
	} {
		out = append(out, Service{Name: string(a.agency), Agency: a.agency, Start: func(ctx context.Context, d Deps) (Stopper, error) {
			return a.start(ctx, &agency.Kit{Bus: d.Bus, Log: d.Log, Now: d.Now})
		}})
	}
	return out
}
