// Package bustest starts real embedded NATS servers with JetStream on disk
// for tests, and polls asynchronous conditions instead of sleeping.
package bustest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// Start runs an embedded broker on a free port with its data in dir (a
// t.TempDir() when dir is ""), provisions the streams, and shuts it down
// when the test ends.
func Start(t testing.TB, dir string) *broker.Broker {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{DataDir: dir, Port: -1})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Shutdown)
	nc := Conn(t, b, "")
	bus, err := natsbus.NewBus(nc, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rights.Provision(ctx, bus.JetStream(), natsbus.StreamConfig{}); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return b
}

// StartAgain starts a stopped broker again on its data directory and port
// (so clients reconnect to it), shutting it down when the test ends. It
// does not provision: the streams are in the store.
func StartAgain(t testing.TB, b *broker.Broker) *broker.Broker {
	t.Helper()
	u, err := url.Parse(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("the broker's port in %s: %v", b.URL(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	again, err := broker.Start(ctx, broker.Config{DataDir: b.DataDir(), Port: port})
	if err != nil {
		t.Fatalf("start the broker again: %v", err)
	}
	t.Cleanup(again.Shutdown)
	return again
}

// Conn connects to b as agency a ("" for the admin user), closed at the end of the test.
func Conn(t testing.TB, b *broker.Broker, a events.Agency, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := b.Connect(a, opts...)
	if err != nil {
		t.Fatalf("connect as %q: %v", a, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Bus connects to b as agency a and returns its bus, logging to the test.
func Bus(t testing.TB, b *broker.Broker, a events.Agency) *natsbus.Bus {
	t.Helper()
	bus, err := natsbus.NewBus(Conn(t, b, a), a, Logger())
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

// CheckFor calls f every interval until it returns nil, failing the test
// with f's last error if total passes first.
func CheckFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("not so after %s: %v", total, err)
}

// Logger logs warnings and errors to stderr. (A logger bound to testing.T
// would panic when a consumer logs after its test has ended.)
func Logger() *zap.Logger {
	cfg := zap.NewDevelopmentConfig()
	cfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	l, _ := cfg.Build()
	return l
}

// FilesHolding lists the files under dir whose bytes contain s (to show
// that a store holds no plain text of what was written to it).
func FilesHolding(t testing.TB, dir, s string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), s) {
			hits = append(hits, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func allDeleted(files []string) bool {
	for _, f := range files {
		if !strings.HasSuffix(f, " (deleted)") {
			return false
		}
	}
	return true
}

// SmallDisk mounts a file system of the given size (tmpfs, "30m") on a new
// directory, to fill, and unmounts it when the test ends. Mounting needs
// root, which CI has: there a failure to mount fails the test; elsewhere
// the test is skipped, saying why.
func SmallDisk(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a %s file system to fill (mount -t tmpfs needs root): %v: %s", size, err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		// A file the server closed a moment ago may keep the mount busy
		// briefly: try for a few seconds, then say what was still open.
		var out []byte
		var err error
		for range 50 {
			if out, err = exec.Command("umount", dir).CombinedOutput(); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		var open []string
		fds, _ := os.ReadDir("/proc/self/fd")
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, dir) {
				open = append(open, l)
			}
		}
		// nats-server (v2.15.2) can keep one message block it deleted
		// open after JetStream was restarted in the running server: the
		// mount stays busy while this test process lives. Detach it; the
		// kernel frees it when the file is closed at exit.
		if len(open) > 0 && allDeleted(open) {
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err == nil {
				t.Logf("%s detached: the server still held deleted files open there: %v", dir, open)
				return
			} else {
				t.Errorf("umount -l %s: %v: %s", dir, err, out)
			}
		}
		t.Errorf("umount %s: %v: %s; files this process holds open there: %v", dir, err, out, open)
	})
	return dir
}
