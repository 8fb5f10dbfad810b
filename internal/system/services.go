package system

import (
	"context"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// auditService logs every event the bus stores.
var auditService = Service{Name: "audit-log", Agency: events.Record, Start: startAuditLog}

// startAuditLog logs every event the bus stores, so the person running
// crisisbus sees the pathway move (and an integrator sees their event land).
func startAuditLog(ctx context.Context, d Deps) (Stopper, error) {
	return d.Bus.Consume(ctx, natsbus.ConsumerConfig{Durable: rights.AuditDurable}, func(_ context.Context, e events.Event) error {
		d.Log.Info("event", append(tracing.EventFields(e), zap.String("episode", e.Subject), zap.String("type", e.Type),
			zap.String("source", string(e.Source)), zap.String("to", string(e.ToAgency)), zap.String("event_id", e.ID))...)
		return nil
	})
}
