package system

import (
	"context"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/services/clock"
)

// clockService is the clock service: s136 permitted period, police-station
// welfare checks, handoff breach times and the 4-day follow-up, with the
// default timings.
var clockService = Service{Name: "clock", Agency: events.Clock, Start: func(ctx context.Context, d Deps) (Stopper, error) {
	cfg := clock.Config{Now: d.Now}
	if d.MakeBucket != nil {
		cfg.MakeBucket = func(ctx context.Context) error { return d.MakeBucket(ctx, rights.ClocksBucket) }
	}
	svc, err := clock.Start(ctx, d.Bus, cfg)
	if err != nil {
		return nil, err
	}
	ops.KeepingClocks(svc.Live)
	return svc, nil
}}
