package chaos_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/deploy/internal/clustertest"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// binDir holds the natsnode program, built once per test binary.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crisisbus-chaos-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// natsnode builds deploy/internal/natsnode (the go build cache makes a
// second build a link).
func natsnode(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.path = filepath.Join(binDir, "natsnode")
		out, err := exec.Command("go", "build", "-o", build.path, "github.com/crisisbus/crisisbus/deploy/internal/natsnode").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build natsnode: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// node is one running nats-server process.
type node struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// cluster is deploy/cluster's three nodes, each its own process.
type cluster struct {
	t      testing.TB
	layout clustertest.Layout
	creds  broker.Credentials
	env    []string
	bin    string
	mu     sync.Mutex
	nodes  [clustertest.Nodes]*node
}

// startCluster starts the three nodes from deploy/cluster's files, waits
// until they form a JetStream cluster, and provisions crisisbus's streams
// and buckets at three replicas.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	creds, env, err := clustertest.Passwords()
	if err != nil {
		t.Fatal(err)
	}
	layout, err := clustertest.Write("../cluster", t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, layout: layout, creds: creds, bin: natsnode(t)}
	for k, v := range env {
		c.env = append(c.env, k+"="+v)
	}
	t.Cleanup(c.shutdown)
	for i := range clustertest.Nodes {
		c.start(i)
	}
	c.waitHealthy()
	admin := c.bus("", nil)
	bustest.CheckFor(t, 60*time.Second, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return rights.Provision(ctx, admin.JetStream(), natsbus.StreamConfig{Replicas: 3})
	})
	return c
}

// start starts node i (from 0) on its store, its log appended to node-<i+1>.log.
func (c *cluster) start(i int) {
	c.t.Helper()
	log, err := os.OpenFile(filepath.Join(c.layout.Dir, fmt.Sprintf("node-%d.log", i+1)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "-c", c.layout.Conf[i])
	cmd.Env = append(append(os.Environ(), c.env...), "CRISISBUS_STORE_KEY="+clustertest.StoreKey(i))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		c.t.Fatalf("start node %d: %v", i+1, err)
	}
	n := &node{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(n.done)
	}()
	c.mu.Lock()
	c.nodes[i] = n
	c.mu.Unlock()
}

func (c *cluster) signal(i int, sig syscall.Signal) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i]
	c.mu.Unlock()
	if n == nil {
		c.t.Fatalf("node %d is not running", i+1)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		c.t.Fatalf("node %d: %v: %v", i+1, sig, err)
	}
}

// kill kills node i at once (SIGKILL), as a machine that loses power.
func (c *cluster) kill(i int) {
	c.t.Helper()
	c.signal(i, syscall.SIGKILL)
	c.mu.Lock()
	n := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	<-n.done
}

// freeze stops node i (SIGSTOP), as a machine that stalls; thaw lets it go on.
func (c *cluster) freeze(i int) { c.signal(i, syscall.SIGSTOP) }
func (c *cluster) thaw(i int)   { c.signal(i, syscall.SIGCONT) }

// shutdown stops every running node: SIGTERM, then SIGKILL after 30 s.
func (c *cluster) shutdown() {
	c.mu.Lock()
	nodes := c.nodes
	c.nodes = [clustertest.Nodes]*node{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == nil {
			continue
		}
		wg.Go(func() {
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-n.done:
			case <-time.After(30 * time.Second):
				_ = n.cmd.Process.Kill()
				<-n.done
			}
		})
	}
	wg.Wait()
}

// waitHealthy waits until every running node answers healthy on its
// monitoring endpoint: connected, and JetStream current on every stream.
func (c *cluster) waitHealthy() {
	c.t.Helper()
	bustest.CheckFor(c.t, 90*time.Second, 250*time.Millisecond, func() error {
		for i := range clustertest.Nodes {
			if err := c.healthy(i); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *cluster) healthy(i int) error {
	cl := http.Client{Timeout: 2 * time.Second}
	res, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", c.layout.HTTPPorts[i]))
	if err != nil {
		return fmt.Errorf("node %d: %w", i+1, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var h server.HealthStatus
		_ = json.NewDecoder(res.Body).Decode(&h)
		return fmt.Errorf("node %d not healthy: %s %s", i+1, h.Status, h.Error)
	}
	return nil
}

// stored is one node's own account of a stream: what its store holds.
type stored struct {
	LastSeq, Msgs, Bytes uint64
}

// nodeState reads stream's state from node i's own monitoring endpoint
// (its store, not the leader's).
func (c *cluster) nodeState(i int, stream string) (stored, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	res, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/jsz?streams=true", c.layout.HTTPPorts[i]))
	if err != nil {
		return stored{}, fmt.Errorf("node %d: %w", i+1, err)
	}
	defer res.Body.Close()
	var js server.JSInfo
	if err := json.NewDecoder(res.Body).Decode(&js); err != nil {
		return stored{}, fmt.Errorf("node %d jsz: %w", i+1, err)
	}
	for _, a := range js.AccountDetails {
		for _, s := range a.Streams {
			if s.Name == stream {
				return stored{LastSeq: s.State.LastSeq, Msgs: s.State.Msgs, Bytes: s.State.Bytes}, nil
			}
		}
	}
	return stored{}, fmt.Errorf("node %d holds no stream %s", i+1, stream)
}

// connect connects as agency a ("" the admin) to the urls (default all three
// nodes, so the client moves to a survivor when its node fails).
func (c *cluster) connect(a events.Agency, urls string) *nats.Conn {
	c.t.Helper()
	if urls == "" {
		urls = c.layout.URLs()
	}
	nc, err := broker.ConnectAs(urls, c.creds, a, nats.RootCAs(c.layout.CA()))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// bus is agency a's bus on the cluster.
func (c *cluster) bus(a events.Agency, nc *nats.Conn) *natsbus.Bus {
	c.t.Helper()
	if nc == nil {
		nc = c.connect(a, "")
	}
	b, err := natsbus.NewBus(nc, a, bustest.Logger())
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// leader is the node (from 0) leading the event stream.
func (c *cluster) leader(js jetstream.JetStream) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, natsbus.Stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return 0, fmt.Errorf("stream %s has no leader", natsbus.Stream)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(info.Cluster.Leader, "crisisbus-"))
	if err != nil {
		return 0, fmt.Errorf("leader %q: %w", info.Cluster.Leader, err)
	}
	return n - 1, nil
}

// waitReplicated waits until the event stream has a leader and two current
// replicas, and returns the leader.
func (c *cluster) waitReplicated(js jetstream.JetStream, within time.Duration) int {
	c.t.Helper()
	var leader int
	bustest.CheckFor(c.t, within, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, natsbus.Stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("no leader")
		}
		current := 0
		for _, r := range info.Cluster.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		if current != 2 {
			return fmt.Errorf("leader %s, %d of %d replicas current", info.Cluster.Leader, current, len(info.Cluster.Replicas))
		}
		leader, err = c.leader(js)
		return err
	})
	return leader
}

// digest reads every event node i holds with direct gets over a connection
// to node i alone (the server answers a direct get from its own replica
// when it has one) and hashes sequence, subject and bytes.
func (c *cluster) digest(i int) (string, uint64, error) {
	nc, err := broker.ConnectAs(c.layout.URL(i), c.creds, "", nats.RootCAs(c.layout.CA()), nats.NoReconnect())
	if err != nil {
		return "", 0, err
	}
	defer nc.Close()
	bus, err := natsbus.NewBus(nc, "", nil)
	if err != nil {
		return "", 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := sha256.New()
	var n uint64
	_, err = bus.Replay(ctx, events.AllSubjects(), func(e events.Event, seq uint64) error {
		raw, err := events.Encode(e)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%d %s %d\n", seq, e.ID, len(raw))
		h.Write(raw)
		n++
		return nil
	}, nil)
	return hex.EncodeToString(h.Sum(nil)), n, err
}
