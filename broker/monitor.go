package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultMonitorAddr is where `crisisbus up` has the NATS server serve its
// own monitoring endpoint (/varz, /connz, /jsz, /healthz …): loopback.
const DefaultMonitorAddr = "127.0.0.1:8222"

// monitor sets the server's monitoring listener from cfg.MonitorAddr
// ("" or "off": none; port 0 picks a free one).
func monitor(cfg Config, opts *server.Options) error {
	if cfg.MonitorAddr == "" || cfg.MonitorAddr == "off" {
		return nil
	}
	host, p, err := net.SplitHostPort(cfg.MonitorAddr)
	if err != nil {
		return fmt.Errorf("NATS monitoring address %q: %w (want host:port, or off)", cfg.MonitorAddr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("NATS monitoring address %q: the port is not a number from 0 to 65535", cfg.MonitorAddr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts.HTTPHost, opts.HTTPPort = host, port
	return nil
}

// portsFree checks that the server can listen where it is to, so that a
// port another program holds stops the start at once, saying which port and
// what to do; the server itself would only log it and never take
// connections, and the start would fail after its wait, saying nothing of
// why.
func portsFree(opts *server.Options) error {
	for _, l := range []struct {
		what, host string
		port       int
		flag       string
	}{
		{"NATS client", opts.Host, opts.Port, "--port"},
		{"NATS monitoring", opts.HTTPHost, opts.HTTPPort, "--nats-monitor"},
	} {
		if l.port <= 0 { // none, or one the server picks
			continue
		}
		addr := net.JoinHostPort(l.host, strconv.Itoa(l.port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			why := "cannot be listened on"
			if errors.Is(err, syscall.EADDRINUSE) {
				why = "is in use by another program (another crisisbus or NATS server?)"
			}
			return fmt.Errorf("the %s port %s %s: %w; stop what holds it, or give crisisbus another with %s", l.what, addr, why, err, l.flag)
		}
		if err := ln.Close(); err != nil {
			return fmt.Errorf("the %s port %s: %w", l.what, addr, err)
		}
	}
	return nil
}

// MonitorURL is the NATS server's monitoring endpoint, "" when it has none.
func (b *Broker) MonitorURL() string {
	if b == nil || b.opts.HTTPPort == 0 {
		return ""
	}
	if a := b.srv.MonitorAddr(); a != nil {
		return "http://" + a.String()
	}
	return ""
}

// DiskSpace is the free and total bytes of the disk holding dir (ok false
// where that cannot be known).
func DiskSpace(dir string) (free, total int64, ok bool) { return diskSpace(dir) }
