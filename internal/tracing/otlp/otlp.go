// Package otlp sends crisisbus's spans (internal/tracing: one per command
// handled, one per event a consumer handles, one per clock warning or
// breach and per disclosure) to an OpenTelemetry collector over OTLP/HTTP,
// when `--otel-endpoint` names one. Off by default: nothing leaves the
// process unless it is switched on.
//
// Each span keeps the ids crisisbus gave it (those the events carry), so a
// trace in the collector matches the traceparent of every event of the
// episode; the service name is the service that did the work
// (crisisbus-police, crisisbus-clock, ...). A span carries the episode id
// and, for work that failed, its kind of failure: never personal data.
package otlp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// TracesPath is where an OTLP/HTTP collector takes traces when the endpoint
// names no path.
const TracesPath = "/v1/traces"

// Endpoint reads an --otel-endpoint: a URL (http:// or https://) or a
// host:port (plain HTTP, as a collector beside the service listens), with
// TracesPath when it names no path.
func Endpoint(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("--otel-endpoint %q is not an OTLP/HTTP collector's address (http://host:4318, https://host/v1/traces or host:4318)", s)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = TracesPath
	}
	return u.String(), nil
}

// Exporter sends every span that ends to the collector, in batches.
type Exporter struct {
	url string

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider // by service name
}

// Start exports every span crisisbus ends from now on to endpoint (see
// Endpoint), until Stop.
func Start(ctx context.Context, endpoint string) (*Exporter, error) {
	u, err := Endpoint(endpoint)
	if err != nil {
		return nil, err
	}
	x := &Exporter{url: u, providers: map[string]*sdktrace.TracerProvider{}}
	// The first service's exporter now, so a configuration the OTLP
	// client refuses stops the start rather than every span after it.
	if _, err := x.provider(ctx, "crisisbus"); err != nil {
		return nil, err
	}
	tracing.SetExporter(x)
	return x, nil
}

// Stop stops exporting and sends what is still batched, waiting at most
// until ctx is done.
func (x *Exporter) Stop(ctx context.Context) error {
	tracing.SetExporter(nil)
	x.mu.Lock()
	defer x.mu.Unlock()
	var errs []error
	for _, p := range x.providers {
		errs = append(errs, p.Shutdown(ctx))
	}
	x.providers = map[string]*sdktrace.TracerProvider{}
	return errors.Join(errs...)
}

// provider is service's: each has its own resource (service.name) and its
// own OTLP client, since a provider's shutdown shuts its exporter down.
func (x *Exporter) provider(ctx context.Context, service string) (*sdktrace.TracerProvider, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if p, ok := x.providers[service]; ok {
		return p, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(x.url))
	if err != nil {
		return nil, fmt.Errorf("OpenTelemetry exporter to %s: %w", x.url, err)
	}
	p := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
		sdktrace.WithBatcher(exp),
		sdktrace.WithIDGenerator(givenIDs{}),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
	)
	x.providers[service] = p
	return p, nil
}

// Export sends one span, with the ids crisisbus gave it (tracing.Exporter).
func (x *Exporter) Export(s tracing.Span, end time.Time, err error) {
	tid, terr := oteltrace.TraceIDFromHex(s.TraceID)
	sid, serr := oteltrace.SpanIDFromHex(s.SpanID)
	if terr != nil || serr != nil {
		return
	}
	ctx := context.WithValue(context.Background(), idsKey{}, ids{tid, sid})
	if s.Parent != "" {
		if pid, err := oteltrace.SpanIDFromHex(s.Parent); err == nil {
			ctx = oteltrace.ContextWithRemoteSpanContext(ctx, oteltrace.NewSpanContext(oteltrace.SpanContextConfig{
				TraceID: tid, SpanID: pid, TraceFlags: oteltrace.FlagsSampled, Remote: true}))
		}
	}
	kind := oteltrace.SpanKindInternal
	if strings.HasPrefix(s.Name, "crisisbus.") {
		kind = oteltrace.SpanKindServer // a command, answered on crisisbus.<agency>.<command>
	}
	p, perr := x.provider(context.Background(), s.Service)
	if perr != nil {
		return
	}
	_, span := p.Tracer("github.com/crisisbus/crisisbus").Start(ctx, s.Name,
		oteltrace.WithTimestamp(s.Start), oteltrace.WithSpanKind(kind),
		oteltrace.WithAttributes(attribute.String("crisisbus.episode", s.Episode)))
	if err != nil {
		span.SetStatus(codes.Error, logsafe.Cause(err))
	}
	span.End(oteltrace.WithTimestamp(end))
}

type idsKey struct{}

type ids struct {
	trace oteltrace.TraceID
	span  oteltrace.SpanID
}

// givenIDs makes the SDK's span keep crisisbus's ids.
type givenIDs struct{}

func (givenIDs) NewIDs(ctx context.Context) (oteltrace.TraceID, oteltrace.SpanID) {
	v, _ := ctx.Value(idsKey{}).(ids)
	return v.trace, v.span
}

func (givenIDs) NewSpanID(ctx context.Context, _ oteltrace.TraceID) oteltrace.SpanID {
	v, _ := ctx.Value(idsKey{}).(ids)
	return v.span
}
