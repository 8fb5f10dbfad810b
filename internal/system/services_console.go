package system

import (
	"context"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/console"
)

func init() {
	Register(Service{Name: "console", Agency: events.Agency(broker.Console), Start: startConsole})
}

func startConsole(ctx context.Context, d Deps) (Stopper, error) {
	return console.Start(ctx, d.Bus.Conn(), console.Config{Addr: d.HTTPAddr, Log: d.Log, Now: d.Now, StoreAlert: d.StoreAlert})
}
