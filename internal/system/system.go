// Package system wires crisisbus together: the embedded NATS server (or an
// external cluster), the streams, and every service, each connected as its
// own agency. `crisisbus up` and `crisisbus serve` both start from here, and
// the end-to-end tests start the same System.
package system

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/services/console"
)

// Deps is what a service is started with.
type Deps struct {
	Bus *natsbus.Bus // connected as the service's own agency
	Log *zap.Logger
	Now func() time.Time // injectable time
	// HTTPAddr is where a service with a web page listens (the console).
	HTTPAddr string
	// Console is the console's people and cookies (its Addr, Log and Now
	// are the ones above).
	Console console.Config
	// StoreAlert says, while the embedded server's store is full, what the
	// people using crisisbus should be told; nil against an external NATS.
	StoreAlert func() string
	// MakeBucket provisions a bucket of broker/rights' table again with the
	// admin user, for a service whose bucket was lost under it; nil without
	// the admin's credentials (then the admin must provision it).
	MakeBucket func(ctx context.Context, name string) error
}

// Stopper stops a running service.
type Stopper interface{ Stop() }

// StopFunc adapts a function to Stopper.
type StopFunc func()

// Stop calls f.
func (f StopFunc) Stop() { f() }

// Service is one runnable part of crisisbus.
type Service struct {
	Name   string
	Agency events.Agency // the NATS user it connects as
	Start  func(ctx context.Context, d Deps) (Stopper, error)
}

// Services lists the services `crisisbus up` runs, in the order they
// start: the episode record first (the agencies ask it for state), then
// the agencies, the clock and the audit log, and the console, which calls
// them all, last. They stop in the reverse order.
func Services() []Service {
	return slices.Concat([]Service{recordService}, agencyServices(), []Service{clockService, auditService, consoleService})
}

// Lookup finds a registered service.
func Lookup(name string) (Service, error) {
	var names []string
	for _, s := range Services() {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return Service{}, fmt.Errorf("unknown service %q (want one of %v)", name, names)
}

// Config configures a System.
type Config struct {
	// Embedded server (used when NATSURL is empty).
	DataDir string
	Host    string
	Port    int
	// StoreKey is the file with the store's encryption key (default beside DataDir).
	StoreKey string
	// MonitorAddr is the embedded server's own monitoring endpoint
	// (broker.Config.MonitorAddr); "" or "off": none.
	MonitorAddr string
	// NATSURL connects to an external NATS instead; Credentials are its users.
	NATSURL     string
	Credentials broker.Credentials
	// Replicas of the streams when provisioning (1 embedded; 3 in a cluster).
	Replicas int
	// NATSOptions are added to every connection (for example TLS roots).
	NATSOptions []nats.Option
	// HTTPAddr is the console's listen address (default 127.0.0.1:8080).
	HTTPAddr string
	// Console is the console's users file, cookies and idle timeout.
	// Without a users file it has the demo people: the embedded default
	// only; against an external NATS it needs one.
	Console console.Config
	// MetricsAddr is where /metrics, /healthz and /readyz are served for
	// the services of this System ("" or "off": not served; host:0 picks a
	// free port). See internal/ops.
	MetricsAddr string
	// MaxLag is how many events a service's consumer may have still to
	// handle and be ready (default ops.DefaultMaxLag).
	MaxLag int
	// Only runs just these services (default all).
	Only []string
	Log  *zap.Logger
	Now  func() time.Time
}

// System is a running crisisbus.
type System struct {
	Broker *broker.Broker // nil against an external NATS
	URL    string
	creds  broker.Credentials
	opts   []nats.Option
	stops  []Stopper
	conns  []*nats.Conn // opened by Connect; each service's own is its supervisor's
	// services run each service on its own connection, and start it again
	// when that connection is closed (see supervise.go).
	services []*supervisor
	mu       sync.Mutex // guards services against a probe while closing
	log      *zap.Logger
	// Ops serves /metrics, /healthz and /readyz; nil without MetricsAddr.
	Ops     *ops.Server
	Started []string
	URLs    []string // "console: http://127.0.0.1:8080" for services with a web page
}

// PageURL is the address of the web page service serves ("console"), "" when
// it serves none or is not running.
func (s *System) PageURL(service string) string {
	for _, u := range s.URLs {
		if rest, ok := strings.CutPrefix(u, service+": "); ok {
			return rest
		}
	}
	return ""
}

// Start starts the server (unless external), provisions the streams and
// starts the services, each under a supervisor that starts it again on a
// new connection if the server closes its connection for good. ctx bounds
// the services' lives, not only their start: consumers and request
// handlers run until it is done or Close is called. On error everything
// started is stopped.
func Start(ctx context.Context, cfg Config) (_ *System, err error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NATSURL != "" && cfg.Console.UsersFile == "" && (len(cfg.Only) == 0 || slices.Contains(cfg.Only, "console")) {
		return nil, fmt.Errorf("the console against an external NATS needs a users file (--users FILE, made with `crisisbus users add`): its demo people are for the embedded default only")
	}
	s := &System{log: cfg.Log, opts: cfg.NATSOptions}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if cfg.NATSURL == "" {
		s.Broker, err = broker.Start(ctx, broker.Config{DataDir: cfg.DataDir, Host: cfg.Host, Port: cfg.Port, Log: cfg.Log, StoreKey: cfg.StoreKey, MonitorAddr: cfg.MonitorAddr})
		if err != nil {
			return nil, err
		}
		s.URL, s.creds = s.Broker.URL(), s.Broker.Credentials()
	} else {
		s.URL, s.creds = cfg.NATSURL, cfg.Credentials
	}
	// Provision with the admin user when we have it; against a cluster whose
	// operators provision separately, a service has only its own user.
	var makeBucket func(context.Context, string) error
	if _, ok := s.creds[broker.Admin]; ok {
		admin, err := s.Connect("")
		if err != nil {
			return nil, err
		}
		if err := rights.Provision(ctx, admin.JetStream(), natsbus.StreamConfig{Replicas: cfg.Replicas}); err != nil {
			return nil, err
		}
		makeBucket = func(ctx context.Context, name string) error {
			return rights.ProvisionBucket(ctx, admin.JetStream(), name, cfg.Replicas)
		}
	}
	for _, svc := range Services() {
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, svc.Name) {
			continue
		}
		d := Deps{Log: cfg.Log.Named(svc.Name), Now: cfg.Now, HTTPAddr: cfg.HTTPAddr, Console: cfg.Console, MakeBucket: makeBucket}
		if s.Broker != nil {
			d.StoreAlert = s.Broker.StoreAlert
		}
		sv, err := s.supervise(ctx, svc, d)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Name, err)
		}
		s.mu.Lock()
		s.stops = append(s.stops, sv)
		s.services = append(s.services, sv)
		s.mu.Unlock()
		if u := sv.URL(); u != "" {
			s.URLs = append(s.URLs, svc.Name+": "+u)
		}
		s.Started = append(s.Started, svc.Name)
	}
	if err := s.startOps(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// Connect opens a bus as agency a ("" for the admin user).
func (s *System) Connect(a events.Agency) (*natsbus.Bus, error) { return s.connect(a, s.log) }

func (s *System) connect(a events.Agency, log *zap.Logger) (*natsbus.Bus, error) {
	nc, err := broker.ConnectAs(s.URL, s.creds, a, s.opts...)
	if err != nil {
		return nil, err
	}
	s.conns = append(s.conns, nc)
	return natsbus.NewBus(nc, a, log)
}

// Close stops the services in reverse order, drains their connections
// (what they sent reaches the server, what they were given is handled) and
// then stops the embedded server.
func (s *System) Close() {
	if s.Ops != nil {
		s.Ops.Stop()
		s.Ops = nil
	}
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i].Stop()
	}
	s.mu.Lock()
	s.stops, s.services = nil, nil
	s.mu.Unlock()
	for _, nc := range s.conns {
		drain(nc)
	}
	s.conns = nil
	if s.Broker != nil {
		s.Broker.Shutdown()
		s.Broker = nil
	}
}

// drain drains a connection and waits, at most drainWait, until it has
// closed, so the server is not stopped under work in flight.
func drain(nc *nats.Conn) {
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	deadline := time.Now().Add(drainWait)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !nc.IsClosed() {
		nc.Close()
	}
}

// drainWait bounds how long a stop waits for a connection to drain.
const drainWait = 5 * time.Second
