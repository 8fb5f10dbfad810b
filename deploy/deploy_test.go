// Package deploy_test checks the cluster configuration in deploy/cluster: its
// users carry exactly the permissions the embedded default gives, and three
// servers started from it form a JetStream cluster that keeps crisisbus's
// streams at three replicas over TLS.
package deploy_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/deploy/internal/clustertest"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

var update = flag.Bool("update", false, "rewrite cluster/users.conf from the table of rights")

// passwords sets each user's bcrypt hash in the environment, as an operator
// would, and returns the plain passwords the services use.
func passwords(t *testing.T) broker.Credentials {
	creds, env, err := clustertest.Passwords()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	return creds
}

// The cluster's users are generated from the one table of rights, and the
// server reads from the file exactly the permissions the embedded default gives.
func TestClusterUsersHaveTheEmbeddedPermissions(t *testing.T) {
	const file = "cluster/users.conf"
	if *update {
		if err := os.WriteFile(file, []byte(rights.UsersConf()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != rights.UsersConf() {
		t.Fatalf("%s differs from the table of rights in broker/rights; run: go test ./deploy -run TestClusterUsers -update", file)
	}
	passwords(t)
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, u := range opts.Users {
		seen[u.Username] = true
		if u.Account == nil || u.Account.Name != rights.UsersAccount {
			t.Errorf("%s: in account %v, want %s (the account without JetStream)", u.Username, u.Account, rights.UsersAccount)
		}
		want, err := broker.Permissions(u.Username)
		if err != nil {
			t.Errorf("users.conf: %v", err)
			continue
		}
		if dump(u.Permissions) != dump(want) {
			t.Errorf("%s: the server reads permissions %s from users.conf, the embedded default gives %s", u.Username, dump(u.Permissions), dump(want))
		}
	}
	for _, u := range rights.Users() {
		if !seen[u] {
			t.Errorf("users.conf has no user %s", u)
		}
	}
}

func dump(p *server.Permissions) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func TestJetStreamClusterOfThreeKeepsEventsAtThreeReplicasOverTLS(t *testing.T) {
	creds := passwords(t)
	dir := t.TempDir()
	layout, err := clustertest.Write("cluster", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	tlsDir := layout.TLSDir
	var servers []*server.Server
	for i := 1; i <= 3; i++ {
		file := layout.Conf[i-1]
		// Each node's store key comes from its environment, as an operator
		// gives it; the variable is read when the file is.
		t.Setenv("CRISISBUS_STORE_KEY", clustertest.StoreKey(i-1))
		opts, err := server.ProcessConfigFile(file)
		if err != nil {
			t.Fatalf("node %d config: %v", i, err)
		}
		if opts.JetStreamKey != os.Getenv("CRISISBUS_STORE_KEY") || opts.JetStreamCipher != server.AES {
			t.Fatalf("node %d: store key %q cipher %v; want the key from CRISISBUS_STORE_KEY and AES", i, opts.JetStreamKey, opts.JetStreamCipher)
		}
		if l := opts.JetStreamLimits; l.MaxBatchSize != natsbus.MaxBatch || l.MaxBatchTimeout != natsbus.BatchTimeout {
			t.Fatalf("node %d: batches of at most %d facts open %v; want the embedded server's %d and %v",
				i, l.MaxBatchSize, l.MaxBatchTimeout, natsbus.MaxBatch, natsbus.BatchTimeout)
		}
		opts.NoSigs, opts.NoLog = true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		go s.Start()
		servers = append(servers, s)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, s := range servers {
			wg.Go(func() { s.Shutdown(); s.WaitForShutdown() })
		}
		wg.Wait()
	})
	for i, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("node %d not ready", i+1)
		}
	}
	bustest.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		for i, s := range servers {
			if !s.JetStreamIsCurrent() || s.NumRoutes() < 2 {
				return fmt.Errorf("node %d: routes %d, jetstream current %v", i+1, s.NumRoutes(), s.JetStreamIsCurrent())
			}
		}
		return nil
	})

	urls := layout.URLs()
	connect := func(a events.Agency) *natsbus.Bus {
		nc, err := broker.ConnectAs(urls, creds, a, nats.RootCAs(filepath.Join(tlsDir, "ca.pem")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		bus, err := natsbus.NewBus(nc, a, nil)
		if err != nil {
			t.Fatal(err)
		}
		return bus
	}
	// Three servers electing leaders for every stream and bucket take
	// seconds on a busy machine: the bounds are generous, as a test that
	// fails must be the cluster's fault, not the machine's load.
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	admin := connect("")
	// Each attempt has its own bound: a request sent while the cluster
	// elects its leaders can go unanswered, and one attempt waiting out
	// the whole minute for it would leave none to try again (seen in CI:
	// "provision stream CRISIS_DEADLETTER: context deadline exceeded").
	bustest.CheckFor(t, 75*time.Second, 200*time.Millisecond, func() error {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return rights.Provision(actx, admin.JetStream(), natsbus.StreamConfig{Replicas: 3})
	})
	stream, err := admin.JetStream().Stream(ctx, natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s: replicas %d, cluster %+v; want a leader and two replicas", natsbus.Stream, info.Config.Replicas, info.Cluster)
	}

	police, record := connect(events.Police), connect(events.Record)
	ev, err := events.New(events.Police, events.NewEpisodeID(), &events.S136Detained{
		DetainedAt: time.Now().UTC(), LocationType: "public_place", AgeYears: 40, Consulted: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := police.Publish(ctx, ev); err != nil {
		t.Fatalf("police publish on the cluster: %v", err)
	}
	got := make(chan string, 1)
	sub, err := record.Consume(ctx, natsbus.ConsumerConfig{Durable: "record-cluster-check", Filters: []string{events.EpisodeSubjects(ev.Subject)}},
		func(_ context.Context, e events.Event) error { got <- e.ID; return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case id := <-got:
		if id != ev.ID {
			t.Fatalf("the record consumed %s, want %s", id, ev.ID)
		}
	case <-time.After(60 * time.Second):
		// A bound, not a speed: on a loaded machine a new replicated
		// consumer's first pull can wait for its leader (seen once at 15 s).
		t.Fatal("the record did not receive the detention from the cluster within a minute")
	}

	// What a caller said is on every node's disk, encrypted: no file of any
	// node's store holds it in plain text.
	const said = "says the voices told him to jump from the Medway bridge tonight"
	call, err := events.New(events.Police, ev.Subject, &events.TriageRequested{CallerAccount: said, Concern: "known to services?"})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := police.Publish(ctx, call)
	if err != nil {
		t.Fatalf("police publish on the cluster: %v", err)
	}
	bustest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		for i, s := range servers {
			// every node has stored it (the stream's last sequence)
			if n := streamLastSeq(s); n < ack.Sequence {
				return fmt.Errorf("node %d has stored up to %d, want %d", i+1, n, ack.Sequence)
			}
		}
		return nil
	})
	for i := 1; i <= 3; i++ {
		if hits := bustest.FilesHolding(t, filepath.Join(dir, fmt.Sprintf("js-%d", i)), said); len(hits) > 0 {
			t.Errorf("node %d holds the caller's words in plain text in %v", i, hits)
		}
	}
}

// TestClusterNodeDoesNotStartWithoutAStoreKey: a node whose environment
// lacks the key is refused when its configuration is read, rather than
// starting unencrypted.
func TestClusterNodeDoesNotStartWithoutAStoreKey(t *testing.T) {
	passwords(t)
	dir := t.TempDir()
	users, _ := os.ReadFile("cluster/users.conf")
	os.WriteFile(filepath.Join(dir, "users.conf"), users, 0o600)
	conf, _ := os.ReadFile("cluster/nats-1.conf")
	file := filepath.Join(dir, "nats-1.conf")
	os.WriteFile(file, conf, 0o600)
	t.Setenv("CRISISBUS_STORE_KEY", "")
	os.Unsetenv("CRISISBUS_STORE_KEY")
	_, err := server.ProcessConfigFile(file)
	if err == nil || !strings.Contains(err.Error(), "CRISISBUS_STORE_KEY") {
		t.Fatalf("config read without CRISISBUS_STORE_KEY: %v, want an error naming it", err)
	}
}

func streamLastSeq(s *server.Server) uint64 {
	js, err := s.Jsz(&server.JSzOptions{Streams: true})
	if err != nil {
		return 0
	}
	var last uint64
	for _, a := range js.AccountDetails {
		for _, st := range a.Streams {
			if st.Name == natsbus.Stream {
				last = st.State.LastSeq
			}
		}
	}
	return last
}
