package broker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// ownWords is what a person said in crisis: it must never lie on disk in
// plain text.
const ownWords = "Zelphorine overdose on Tuesday; the voices tell me to walk into the sea at Margate"

func start(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	cfg.Port = -1
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return b
}

// publishOwnWords provisions the streams and stores the person's own words.
func publishOwnWords(t *testing.T, b *broker.Broker) events.Event {
	t.Helper()
	admin := bustest.Bus(t, b, "")
	if err := natsbus.Provision(t.Context(), admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	ev, err := events.New(events.SPoA, events.NewEpisodeID(), &events.PersonVoiceRecorded{OwnWords: ownWords})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bustest.Bus(t, b, events.SPoA).Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// readBack returns the own words stored for ev's episode.
func readBack(t *testing.T, b *broker.Broker, ev events.Event) string {
	t.Helper()
	var got string
	if _, err := bustest.Bus(t, b, "").Replay(t.Context(), events.EpisodeSubjects(ev.Subject), func(e events.Event, _ uint64) error {
		if e.ID == ev.ID {
			var d events.PersonVoiceRecorded
			if err := e.DecodeInto(&d); err != nil {
				return err
			}
			got = d.OwnWords
		}
		return nil
	}, nil); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return got
}

func startErr(t *testing.T, cfg broker.Config) (time.Duration, error) {
	t.Helper()
	cfg.Port = -1
	began := time.Now()
	b, err := broker.Start(t.Context(), cfg)
	if err == nil {
		b.Shutdown()
	}
	return time.Since(began), err
}

func TestTheStoreIsEncryptedAtRestAndOpensOnlyWithItsKey(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	ev := publishOwnWords(t, b)
	b.Shutdown()

	if hits := bustest.FilesHolding(t, data, "walk into the sea"); len(hits) > 0 {
		t.Fatalf("the person's own words lie in plain text in %v", hits)
	}
	keyFile := data + ".key"
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("no key file beside the data directory: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	key, _ := os.ReadFile(keyFile)
	if hits := bustest.FilesHolding(t, data, strings.TrimSpace(string(key))); len(hits) > 0 {
		t.Errorf("the key lies in the data directory, in %v", hits)
	}

	b = start(t, broker.Config{DataDir: data})
	if got := readBack(t, b, ev); got != ownWords {
		t.Errorf("after a restart with the same key the own words read %q, want %q", got, ownWords)
	}
	b.Shutdown()

	// Another key is refused, quickly, naming the key file.
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	os.WriteFile(wrong, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	took, err := startErr(t, broker.Config{DataDir: data, StoreKey: wrong})
	if err == nil || !strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "--store-key") || took > 5*time.Second {
		t.Errorf("start with another key: %v after %s; want a quick refusal naming %s and --store-key", err, took, wrong)
	}

	// A lost key file is refused, and no new key is made in its place.
	if err := os.Rename(keyFile, keyFile+".elsewhere"); err != nil {
		t.Fatal(err)
	}
	took, err = startErr(t, broker.Config{DataDir: data})
	if err == nil || !strings.Contains(err.Error(), keyFile) || !strings.Contains(err.Error(), "missing") || took > 5*time.Second {
		t.Errorf("start without the key file: %v after %s; want a quick refusal naming %s as missing", err, took, keyFile)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a new key file was made over the lost one: %v", err)
	}

	// Given back (here through its own path), the events read again.
	b = start(t, broker.Config{DataDir: data, StoreKey: keyFile + ".elsewhere"})
	defer b.Shutdown()
	if got := readBack(t, b, ev); got != ownWords {
		t.Errorf("with the key file given back the own words read %q", got)
	}
}

// Without the check file (say it was deleted), a wrong key still does not
// start a server that lacks the streams it could not open.
func TestAStreamTheKeyCannotOpenStopsTheStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	publishOwnWords(t, b)
	b.Shutdown()
	os.Remove(filepath.Join(data, "store-key.check"))
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	os.WriteFile(wrong, []byte(strings.Repeat("cd", 32)+"\n"), 0o600)
	took, err := startErr(t, broker.Config{DataDir: data, StoreKey: wrong})
	if err == nil || !strings.Contains(err.Error(), "CRISIS") || !strings.Contains(err.Error(), wrong) || took > 10*time.Second {
		t.Errorf("start with another key and no check file: %v after %s; want a refusal naming the stream and %s", err, took, wrong)
	}
}

func TestTheKeyFileMayNotLieInsideTheDataDirectory(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	_, err := startErr(t, broker.Config{DataDir: data, StoreKey: filepath.Join(data, "store.key")})
	if err == nil || !strings.Contains(err.Error(), "inside the data directory") {
		t.Errorf("key file inside the data directory: %v, want a refusal", err)
	}
}

func TestTwoServersCannotShareADataDirectory(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	_, err := startErr(t, broker.Config{DataDir: data})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server on %s: %v, want a refusal", data, err)
	}
}

// A store written by crisisbus before encryption (the same server options,
// no key) is encrypted when this version opens it, and keeps its events.
func TestAnUnencryptedStoreFromAnEarlierVersionIsEncryptedOnStart(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	old, err := server.NewServer(&server.Options{Port: -1, NoSigs: true, NoLog: true, JetStream: true,
		StoreDir: broker.StoreDir(data), SyncAlways: true, JetStreamMaxMemory: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go old.Start()
	if !old.ReadyForConnections(10 * time.Second) {
		t.Fatal("earlier server not ready")
	}
	// The earlier version's clients were in the store's account, and
	// called its API unprefixed.
	if err := old.GlobalAccount().AddMapping(natsbus.APIPrefix+".>", "$JS.API.>"); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(old.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	adminBus, _ := natsbus.NewBus(nc, "", nil)
	if err := natsbus.Provision(t.Context(), adminBus.JetStream(), natsbus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	ev, _ := events.New(events.SPoA, events.NewEpisodeID(), &events.PersonVoiceRecorded{OwnWords: ownWords})
	if _, err := adminBus.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	old.Shutdown()
	old.WaitForShutdown()
	if len(bustest.FilesHolding(t, data, "walk into the sea")) == 0 {
		t.Fatal("the earlier store does not hold the own words in plain text: this test proves nothing")
	}

	b := start(t, broker.Config{DataDir: data})
	if got := readBack(t, b, ev); got != ownWords {
		t.Errorf("after encryption the own words read %q", got)
	}
	b.Shutdown()
	if hits := bustest.FilesHolding(t, data, "walk into the sea"); len(hits) > 0 {
		t.Errorf("the own words still lie in plain text in %v", hits)
	}
	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	if got := readBack(t, b, ev); got != ownWords {
		t.Errorf("on the second encrypted start the own words read %q", got)
	}
}

func TestRotateKeyKeepsEventsAndConsumerPositions(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	keyFile := data + ".key"
	b := start(t, broker.Config{DataDir: data})
	ev := publishOwnWords(t, b)
	// A durable consumer (the record's) that has handled the event.
	js := bustest.Bus(t, b, events.Record).JetStream()
	c, err := js.CreateOrUpdateConsumer(t.Context(), natsbus.Stream, jetstream.ConsumerConfig{Durable: "record-rotation", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		if err := m.DoubleAck(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := c.Info(t.Context())
	if before.AckFloor.Stream == 0 {
		t.Fatal("the consumer acknowledged nothing: this test proves nothing")
	}

	// Not while the server runs.
	if _, err := broker.RotateStoreKey(t.Context(), data, "", zap.NewNop()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("rotate under a running server: %v, want a refusal", err)
	}
	b.Shutdown()
	oldKey, _ := os.ReadFile(keyFile)

	r, err := broker.RotateStoreKey(t.Context(), data, "", zap.NewNop())
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	newKey, _ := os.ReadFile(keyFile)
	if string(newKey) == string(oldKey) || len(strings.TrimSpace(string(newKey))) != 64 {
		t.Fatalf("the key file was not given a new key")
	}
	if kept, _ := os.ReadFile(r.OldKey); string(kept) != string(oldKey) {
		t.Errorf("the old key is not kept in %s", r.OldKey)
	}
	if r.Streams == 0 || r.Consumers != 1 {
		t.Errorf("rotation %+v: want the streams and the one consumer", r)
	}
	for _, dir := range []string{broker.StoreDir(data), r.OldStore} {
		if hits := bustest.FilesHolding(t, dir, "walk into the sea"); len(hits) > 0 {
			t.Errorf("the own words lie in plain text in %v", hits)
		}
	}

	// The old key no longer opens the store; the new one does, with the
	// consumer where it was.
	took, err := startErr(t, broker.Config{DataDir: data, StoreKey: r.OldKey})
	if err == nil || took > 5*time.Second {
		t.Errorf("start with the old key after rotation: %v after %s, want a quick refusal", err, took)
	}
	if err := os.RemoveAll(r.OldStore); err != nil {
		t.Fatal(err)
	}
	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	if got := readBack(t, b, ev); got != ownWords {
		t.Errorf("after rotation the own words read %q", got)
	}
	c, err = bustest.Bus(t, b, events.Record).JetStream().Consumer(t.Context(), natsbus.Stream, "record-rotation")
	if err != nil {
		t.Fatalf("the service's consumer did not survive the rotation: %v", err)
	}
	after, _ := c.Info(t.Context())
	if after.AckFloor.Stream != before.AckFloor.Stream || after.Delivered.Stream != before.Delivered.Stream {
		t.Errorf("consumer acknowledged %d delivered %d after rotation, %d %d before", after.AckFloor.Stream, after.Delivered.Stream, before.AckFloor.Stream, before.Delivered.Stream)
	}
}
