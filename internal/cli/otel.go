package cli

import (
	"context"
	"flag"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/internal/tracing/otlp"
)

// otelFlag registers --otel-endpoint, the OpenTelemetry collector spans are
// sent to (off when empty).
func otelFlag(fs *flag.FlagSet) *string {
	return fs.String("otel-endpoint", "", "OpenTelemetry collector (OTLP/HTTP: http://host:4318 or host:4318) to send one span per command handled and per event consumed; empty (the default) sends nothing")
}

// startOTel starts exporting spans to endpoint (nothing when it is empty);
// stop sends what is batched.
func startOTel(ctx context.Context, endpoint string, log *zap.Logger) (stop func(), err error) {
	if endpoint == "" {
		return func() {}, nil
	}
	x, err := otlp.Start(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	u, _ := otlp.Endpoint(endpoint)
	log.Info("exporting spans to an OpenTelemetry collector", zap.String("endpoint", u))
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := x.Stop(sctx); err != nil {
			log.Warn("could not send the last spans to the OpenTelemetry collector", zap.Error(err))
		}
	}, nil
}
