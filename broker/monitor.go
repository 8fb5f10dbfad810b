package broker

import (
	"fmt"
	"net"
	"strconv"

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
