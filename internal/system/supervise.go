package system

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// A service's connection can end for good while crisisbus runs: nats.go
// reconnects by itself after a network fault or a server restart, but when
// the server closes the connection on a protocol error (a line longer than
// it reads, "maximum control line exceeded", among others) nats.go closes it
// and never dials again. Every agency would then get "no responders" from a
// service that still looks alive. So each service runs under a supervisor,
// the one way every service is run: it dials the service's own NATS user,
// starts the service on that connection, and when the connection is closed
// for any reason but Close, it stops the service, dials again and starts it
// again (its request handlers subscribe again, its durable consumers carry
// on from where they were acknowledged), waiting between attempts from
// RestartBackoff up to MaxRestartBackoff, and says in the log what happened.

// RestartBackoff is the first wait before a service whose connection was
// closed is started again; each failed attempt doubles it up to
// MaxRestartBackoff.
var (
	RestartBackoff    = 250 * time.Millisecond
	MaxRestartBackoff = 30 * time.Second
)

// supervisor runs one service and brings it back when its connection closes.
type supervisor struct {
	sys  *System
	svc  Service
	deps Deps // Bus is set per connection
	log  *zap.Logger

	mu     sync.Mutex
	nc     *nats.Conn
	st     Stopper
	closed chan struct{} // closed when the current connection is
	starts int           // how often the service has been started

	stop chan struct{}
	done chan struct{}
}

// supervise starts the service once (an error is returned, nothing is left
// running) and then keeps it running until ctx ends or close is called.
func (s *System) supervise(ctx context.Context, svc Service, deps Deps) (*supervisor, error) {
	sv := &supervisor{sys: s, svc: svc, deps: deps, log: deps.Log, stop: make(chan struct{}), done: make(chan struct{})}
	if err := sv.startOnce(ctx); err != nil {
		return nil, err
	}
	// A service with a web page comes back on the address it first took
	// (a free port asked for with :0 stays the same one).
	if u, ok := sv.st.(interface{ URL() string }); ok {
		if pu, err := url.Parse(u.URL()); err == nil && pu.Host != "" {
			sv.deps.HTTPAddr = pu.Host
		}
	}
	go sv.watch(ctx)
	return sv, nil
}

// startOnce dials the service's user and starts the service on the new
// connection.
func (sv *supervisor) startOnce(ctx context.Context) error {
	closed := make(chan struct{})
	log := sv.log
	opts := append(append([]nats.Option{}, sv.sys.opts...),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("lost the connection to NATS; reconnecting", zap.String("service", sv.svc.Name), zap.String("cause", err.Error()))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", zap.String("service", sv.svc.Name), zap.String("server", nc.ConnectedUrlRedacted()))
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	)
	nc, err := broker.ConnectAs(sv.sys.URL, sv.sys.creds, sv.svc.Agency, opts...)
	if err != nil {
		return err
	}
	bus, err := natsbus.NewBus(nc, sv.svc.Agency, log)
	if err != nil {
		nc.Close()
		return err
	}
	deps := sv.deps
	deps.Bus = bus
	st, err := sv.svc.Start(ctx, deps)
	if err != nil {
		nc.Close()
		return fmt.Errorf("start service %s: %w", sv.svc.Name, err)
	}
	// The server has every subscription the service made before it counts
	// as started, so a request sent the moment start returns finds it.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		st.Stop()
		nc.Close()
		return fmt.Errorf("start service %s: its subscriptions did not reach the server: %w", sv.svc.Name, err)
	}
	sv.mu.Lock()
	sv.nc, sv.st, sv.closed = nc, st, closed
	sv.starts++
	sv.mu.Unlock()
	return nil
}

// watch waits for the connection to close, then starts the service again.
func (sv *supervisor) watch(ctx context.Context) {
	defer close(sv.done)
	for {
		sv.mu.Lock()
		closed, nc, st := sv.closed, sv.nc, sv.st
		sv.mu.Unlock()
		select {
		case <-sv.stop:
			return
		case <-ctx.Done():
			return
		case <-closed:
		}
		cause := "closed"
		if err := nc.LastError(); err != nil {
			cause = err.Error()
		}
		sv.log.Error("the NATS server closed this service's connection for good; starting the service again on a new connection",
			zap.String("service", sv.svc.Name), zap.String("cause", cause))
		st.Stop()
		sv.mu.Lock()
		sv.st = nil
		sv.mu.Unlock()
		wait := RestartBackoff
		for attempt := 1; ; attempt++ {
			select {
			case <-sv.stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			err := sv.startOnce(ctx)
			if err == nil {
				sv.log.Info("service started again and answering", zap.String("service", sv.svc.Name), zap.Int("attempt", attempt))
				break
			}
			wait = min(2*wait, MaxRestartBackoff)
			sv.log.Warn("could not start the service again; trying again", zap.String("service", sv.svc.Name),
				zap.Int("attempt", attempt), zap.Duration("retry_in", wait), zap.String("cause", err.Error()))
		}
	}
}

// Stop stops the service and closes its connection; it is not started again.
func (sv *supervisor) Stop() {
	close(sv.stop)
	<-sv.done
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.st != nil {
		sv.st.Stop()
		sv.st = nil
	}
	drain(sv.nc)
}

// conn is the connection the service runs on now.
func (sv *supervisor) conn() *nats.Conn {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.nc
}

// URL is the service's web address, when it has one.
func (sv *supervisor) URL() string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if u, ok := sv.st.(interface{ URL() string }); ok {
		return u.URL()
	}
	return ""
}
