package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/internal/system"
)

func cmdUp(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "up", "[flags]")
	data := fs.String("data", "data", "data directory for JetStream and the credentials file")
	host := fs.String("host", "127.0.0.1", "address NATS listens on (other agencies' clients connect here)")
	port := fs.Int("port", 4222, "NATS client port")
	httpAddr := fs.String("http", "127.0.0.1:8080", "address the web console listens on")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "console", "log format: console (readable lines) or json (one JSON object a line, for a log collector)")
	metrics := fs.String("metrics", ops.DefaultAddr, "address serving /metrics (Prometheus), /healthz and /readyz; \"off\" to disable")
	otelEndpoint := otelFlag(fs)
	monitor := fs.String("nats-monitor", broker.DefaultMonitorAddr, "address of the NATS server's own monitoring endpoint (/varz, /jsz, …); \"off\" to disable")
	var cons consoleFlags
	cons.register(fs, "default DATA/users.json when it exists; without one the console has the demo people")
	storeKey := fs.String("store-key", os.Getenv(broker.StoreKeyEnv), "file holding the key the data directory's store is encrypted with, made on first start (default $"+broker.StoreKeyEnv+", else DATA.key beside the data directory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(e.stderr, *level, *format)
	if err != nil {
		return err
	}
	gogc, restoreGC := system.TuneGC()
	defer restoreGC()
	log.Info("garbage collector", zap.Int("gogc", gogc))
	stopOTel, err := startOTel(ctx, *otelEndpoint, log)
	if err != nil {
		return usageError{err.Error()}
	}
	defer stopOTel()
	if cons.cfg.UsersFile == "" {
		if _, err := os.Stat(defaultUsersFile(*data)); err == nil {
			cons.cfg.UsersFile = defaultUsersFile(*data)
		}
	}
	start := time.Now()
	sys, err := system.Start(ctx, system.Config{DataDir: *data, StoreKey: *storeKey, Host: *host, Port: *port, HTTPAddr: *httpAddr, Log: log, Console: cons.cfg,
		MetricsAddr: *metrics, MonitorAddr: *monitor})
	if err != nil {
		return err
	}
	defer sys.Close()
	abs, _ := filepath.Abs(*data)
	fmt.Fprintf(e.stdout, "crisisbus is up (ready in %s)\n", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "  NATS:        %s (JetStream, fsync on every write)\n", sys.URL)
	fmt.Fprintf(e.stdout, "  data:        %s\n", abs)
	keyFile := *storeKey
	if keyFile == "" {
		keyFile = broker.DefaultStoreKeyFile(abs)
	}
	fmt.Fprintf(e.stdout, "  store key:   %s (the store is encrypted with it: keep a copy apart from the data's backups)\n", keyFile)
	fmt.Fprintf(e.stdout, "  credentials: %s (a NATS user per agency)\n", broker.CredentialsFile(abs))
	fmt.Fprintf(e.stdout, "  services:    %s\n", strings.Join(sys.Started, ", "))
	if cons.cfg.UsersFile != "" {
		fmt.Fprintf(e.stdout, "  people:      %s (the console's users file)\n", cons.cfg.UsersFile)
	} else {
		fmt.Fprintf(e.stdout, "  people:      the demo people (no users file: make one with `crisisbus users add`)\n")
	}
	for _, u := range sys.URLs {
		fmt.Fprintf(e.stdout, "  %s\n", u)
	}
	if sys.Ops != nil {
		fmt.Fprintf(e.stdout, "  metrics:     %s/metrics (health: /healthz, /readyz)\n", sys.Ops.URL())
	}
	if u := sys.Broker.MonitorURL(); u != "" {
		fmt.Fprintf(e.stdout, "  NATS monitor: %s\n", u)
	}
	fmt.Fprintf(e.stdout, "Publish from another terminal: crisisbus publish --data %s FILE.json\n", *data)
	fmt.Fprintln(e.stdout, "Stop with Ctrl-C.")
	<-ctx.Done()
	log.Info("shutting down", zap.String("reason", "signal"))
	return nil
}
