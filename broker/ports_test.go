package broker_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
)

// TestAPortTakenStopsTheStartSayingWhichPort: another program on the NATS
// client port, or on the NATS monitoring port, stops the start with the
// port named and what to do, not with a server "not ready" after a wait.
func TestAPortTakenStopsTheStartSayingWhichPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	for _, tc := range []struct {
		name string
		cfg  broker.Config
		want []string
	}{
		{"client port", broker.Config{Port: port}, []string{"NATS client port", addr, "in use", "--port"}},
		{"monitoring port", broker.Config{Port: -1, MonitorAddr: addr}, []string{"NATS monitoring port", addr, "in use", "--nats-monitor"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = filepath.Join(t.TempDir(), "data")
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			b, err := broker.Start(ctx, tc.cfg)
			if err == nil {
				b.Shutdown()
				t.Fatal("started with its port taken")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// The data directory is not left locked: a start on a free port works.
			tc.cfg.Port, tc.cfg.MonitorAddr = -1, ""
			b, err = broker.Start(t.Context(), tc.cfg)
			if err != nil {
				t.Fatalf("start after the refusal: %v", err)
			}
			b.Shutdown()
		})
	}
}
