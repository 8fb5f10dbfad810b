package system

import (
	"context"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/ambulance"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/crisisline"
	"github.com/crisisbus/crisisbus/services/episode"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/spoa"
)

// The episode record and the five agency services, each connected as its
// own NATS user (so the server enforces who may publish what).
func init() {
	Register(Service{Name: "episode-record", Agency: events.Record, Start: func(ctx context.Context, d Deps) (Stopper, error) {
		return episode.Start(ctx, episode.Config{Bus: d.Bus, Log: d.Log, Now: d.Now})
	}})
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
		Register(Service{Name: string(a.agency), Agency: a.agency, Start: func(ctx context.Context, d Deps) (Stopper, error) {
			return a.start(ctx, &agency.Kit{Bus: d.Bus, Log: d.Log, Now: d.Now})
		}})
	}
}
