// Command crisisbus runs the multi-agency crisis coordination bus: the
// embedded default (`crisisbus up`), one service against a NATS cluster
// (`crisisbus serve`), and the tools integrators use (publish, schema
// validate). Run `crisisbus help` for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/crisisbus/crisisbus/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
