package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// DefaultAddr is where `crisisbus up` and `crisisbus serve` serve /metrics,
// /healthz and /readyz unless told otherwise: loopback, so only the machine
// itself (and a scraper on it, or a tunnel the operator sets up) reads them.
const DefaultAddr = "127.0.0.1:9464"

// DefaultProbeTimeout bounds each look at NATS a scrape or /readyz makes.
const DefaultProbeTimeout = 2 * time.Second

// The HTTP servers' bounds on a connection (this listener's and the
// console's): ReadTimeout for a whole request, headers and body, so a body
// trickling in a byte at a time does not hold a connection and its
// goroutine for ever; IdleTimeout for a kept-alive connection waiting for
// its next request. There is no bound on writing a whole response: the
// console's live updates are one long response, whose every write has its
// own deadline.
const (
	ReadTimeout = 30 * time.Second
	IdleTimeout = 2 * time.Minute
)

// DefaultMaxLag is how many events a service's durable consumer may have
// still to handle and count as caught up.
const DefaultMaxLag = 1000

// Probe is what one service of this process looks like now.
type Probe struct {
	Service string
	// NotReady says, in words, why the service is not ready; "" when it is.
	NotReady  string
	Consumers []Consumer
}

// Consumer is a durable consumer's position, from JetStream's consumer info.
type Consumer struct {
	Name string
	// Pending are stored events not yet delivered to it, AckPending those
	// delivered and not yet acknowledged, Redelivered those delivered more
	// than once and not yet acknowledged.
	Pending, AckPending, Redelivered uint64
}

// Store is the embedded server's store, in bytes.
type Store struct {
	Used, Limit, Free int64
	Full              bool
}

// Config configures a Server.
type Config struct {
	// Addr is the listen address (DefaultAddr; host:0 picks a free port).
	Addr string
	Log  *zap.Logger
	// Probe looks at every service of this process, within ctx.
	Probe func(ctx context.Context) []Probe
	// DeadLetters counts the dead-letter stream's messages by consumer; nil
	// where this process's identities may not read that stream.
	DeadLetters func(ctx context.Context) (map[string]uint64, error)
	// Store reports the embedded server's store, and false until it has
	// been looked at; nil against an external NATS.
	Store func() (Store, bool)
	// Timeout bounds each probe (DefaultProbeTimeout).
	Timeout time.Duration

	readTimeout, idleTimeout time.Duration // ReadTimeout, IdleTimeout; shorter in tests
}

// Registry is one process's metrics: every count kept as things happen
// and what is read from NATS at scrape time.
type Registry struct {
	*prometheus.Registry
	scraped *scraped
}

// NewRegistry makes the registry of a process; cfg may be nil (only the
// counts kept as things happen, and the names of the rest).
func NewRegistry(cfg *Config) *Registry {
	r := &Registry{Registry: prometheus.NewRegistry(), scraped: &scraped{cfg: cfg}}
	r.MustRegister(counted...)
	r.MustRegister(r.scraped)
	return r
}

func (r *Registry) describe(ch chan<- *prometheus.Desc) {
	for _, c := range counted {
		c.Describe(ch)
	}
	r.scraped.Describe(ch)
}

var (
	descPending     = prometheus.NewDesc(ConsumerPending, "Stored events a durable consumer has still to be given (its lag).", []string{"consumer"}, nil)
	descAckPending  = prometheus.NewDesc(ConsumerAckPending, "Events given to a durable consumer and not yet acknowledged.", []string{"consumer"}, nil)
	descRedelivered = prometheus.NewDesc(ConsumerRedelivered, "Events given to a durable consumer more than once and not yet acknowledged (a handler failing on them).", []string{"consumer"}, nil)
	descDead        = prometheus.NewDesc(DeadLetters, "Messages in the dead-letter stream, by the consumer that could not handle them (see `crisisbus deadletter list`).", []string{"consumer"}, nil)
	descReady       = prometheus.NewDesc(ServiceReady, "1 when a service is ready (connected to NATS, its streams and consumers present, caught up), else 0.", []string{"service"}, nil)
	descStoreUsed   = prometheus.NewDesc(StoreBytes, "Bytes the embedded server's JetStream store holds.", nil, nil)
	descStoreLimit  = prometheus.NewDesc(StoreLimitBytes, "Bytes the embedded server's JetStream store may use on its disk.", nil, nil)
	descStoreFree   = prometheus.NewDesc(StoreDiskFreeBytes, "Bytes free on the disk holding the embedded server's store.", nil, nil)
	descStoreFull   = prometheus.NewDesc(StoreFull, "1 while the embedded server's store refuses new facts for lack of space.", nil, nil)
)

// scraped reads the consumers, dead letters, readiness and the store when
// Prometheus scrapes, each look bounded by the probe timeout.
type scraped struct{ cfg *Config }

func (s *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descAckPending, descRedelivered, descDead, descReady, descStoreUsed, descStoreLimit, descStoreFree, descStoreFull} {
		ch <- d
	}
}

func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	if s.cfg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.timeout())
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	seen := map[string]bool{}
	if s.cfg.Probe != nil {
		for _, p := range s.cfg.Probe(ctx) {
			gauge(descReady, b2f(p.NotReady == ""), p.Service)
			for _, c := range p.Consumers {
				if seen[c.Name] {
					continue
				}
				seen[c.Name] = true
				gauge(descPending, float64(c.Pending), c.Name)
				gauge(descAckPending, float64(c.AckPending), c.Name)
				gauge(descRedelivered, float64(c.Redelivered), c.Name)
			}
		}
	}
	if s.cfg.DeadLetters != nil {
		if dead, err := s.cfg.DeadLetters(ctx); err == nil {
			for c, n := range dead {
				gauge(descDead, float64(n), c)
			}
		} else if s.cfg.Log != nil {
			s.cfg.Log.Warn("metrics: could not count the dead letters", zap.Error(err))
		}
	}
	if s.cfg.Store == nil {
		return
	}
	if st, ok := s.cfg.Store(); ok {
		gauge(descStoreUsed, float64(st.Used))
		gauge(descStoreLimit, float64(st.Limit))
		gauge(descStoreFree, float64(st.Free))
		gauge(descStoreFull, b2f(st.Full))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultProbeTimeout
}

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	cfg  Config
	reg  *Registry
	ln   net.Listener
	http *http.Server
	wg   sync.WaitGroup
}

// Off is the address that turns the listener off.
const Off = "off"

// Start listens on cfg.Addr and serves.
func Start(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	s := &Server{cfg: cfg, reg: NewRegistry(&cfg)}
	var err error
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("metrics and health: listen on %s: %w", cfg.Addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(cfg.Log), Timeout: 10 * time.Second}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "alive")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: or(cfg.readTimeout, ReadTimeout), IdleTimeout: or(cfg.idleTimeout, IdleTimeout)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("metrics and health listener stopped", zap.Error(err))
		}
	}()
	cfg.Log.Info("metrics and health listening", zap.String("url", s.URL()))
	return s, nil
}

// or is d, or def when d is not set.
func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// URL is the listener's base address (http://host:port).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Ready looks at every service and says, in words, what is not ready ("" when all are).
func (s *Server) Ready(ctx context.Context) (string, []Probe) {
	if s.cfg.Probe == nil {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	probes := s.cfg.Probe(ctx)
	var why []string
	for _, p := range probes {
		if p.NotReady != "" {
			why = append(why, p.Service+": "+p.NotReady)
		}
	}
	return strings.Join(why, "\n"), probes
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	why, probes := s.Ready(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if why != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready\n%s\n", why)
		return
	}
	fmt.Fprintln(w, "ready")
	for _, p := range probes {
		fmt.Fprintf(w, "%s: ready\n", p.Service)
	}
}

// Stop stops serving.
func (s *Server) Stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	s.wg.Wait()
}
