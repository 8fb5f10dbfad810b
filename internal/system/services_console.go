package system

import (
	"context"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/console"
)

// consoleService is the web console: it calls every other service, so it
// starts last.
var consoleService = Service{Name: "console", Agency: events.Agency(broker.Console), Start: startConsole}

func startConsole(ctx context.Context, d Deps) (Stopper, error) {
	cfg := d.Console
	cfg.Addr, cfg.Log, cfg.Now, cfg.StoreAlert = d.HTTPAddr, d.Log, d.Now, d.StoreAlert
	return console.Start(ctx, d.Bus.Conn(), cfg)
}
