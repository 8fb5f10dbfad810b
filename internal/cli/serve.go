package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/internal/system"
)

func init() {
	commands["serve"] = command{"run one service against an external NATS (for a cluster): serve SERVICE --nats URL[,URL…]", cmdServe}
}

func cmdServe(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "serve", "SERVICE [flags]   (services: "+serviceNames()+")")
	url := fs.String("nats", "nats://127.0.0.1:4222", "NATS URL(s), comma-separated")
	credFile := fs.String("credentials", "", "credentials file (JSON: user → password), default DATA/credentials.json")
	data := fs.String("data", "data", "data directory whose credentials.json to use when --credentials is not given")
	var password passwordFlag
	password.register(fs, "password of the service's own agency user (instead of a credentials file)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "console", "log format: console (readable lines) or json (one JSON object a line, for a log collector)")
	metrics := fs.String("metrics", ops.DefaultAddr, "address serving /metrics (Prometheus), /healthz and /readyz; \"off\" to disable (give each service on one machine its own port)")
	otelEndpoint := otelFlag(fs)
	httpAddr := fs.String("http", "127.0.0.1:8080", "address the console listens on (serve console)")
	var cons consoleFlags
	cons.register(fs, "required by serve console")
	replicas := fs.Int("replicas", 1, "stream replicas when provisioning with the admin user (3 in a 3-node cluster)")
	caFile := fs.String("tls-ca", "", "CA certificate to verify the NATS servers' TLS certificates")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return usageError{"name the service to run"}
	}
	name := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	svc, err := system.Lookup(name)
	if err != nil {
		return usageError{err.Error()}
	}
	var creds broker.Credentials
	pw, given, err := password.get()
	if err != nil {
		return err
	}
	switch {
	case given:
		creds = broker.Credentials{string(svc.Agency): pw}
	case *credFile != "":
		creds, err = broker.ReadCredentials(*credFile)
	default:
		creds, err = broker.LoadCredentials(*data)
	}
	if err != nil {
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
	var opts []nats.Option
	if *caFile != "" {
		opts = append(opts, nats.RootCAs(*caFile))
	}
	sys, err := system.Start(ctx, system.Config{NATSURL: *url, Credentials: creds, Only: []string{name}, Log: log,
		Replicas: *replicas, NATSOptions: opts, HTTPAddr: *httpAddr, Console: cons.cfg, MetricsAddr: *metrics})
	if err != nil {
		return err
	}
	defer sys.Close()
	fmt.Fprintf(e.stdout, "crisisbus %s is serving as %s on %s\n", name, svc.Agency, *url)
	for _, u := range sys.URLs {
		fmt.Fprintf(e.stdout, "  %s\n", u)
	}
	if sys.Ops != nil {
		fmt.Fprintf(e.stdout, "  metrics: %s/metrics (health: /healthz, /readyz)\n", sys.Ops.URL())
	}
	<-ctx.Done()
	return nil
}

func serviceNames() string {
	var n []string
	for _, s := range system.Services() {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}
