package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// Rotation is what RotateStoreKey did.
type Rotation struct {
	Streams   int    // streams (event stream, dead letters, key-value buckets) re-encrypted
	Messages  uint64 // messages in them
	Consumers int    // durable consumers carried over with their positions
	KeyFile   string // now holds the new key
	OldKey    string // the previous key, kept until the operator deletes it
	OldStore  string // the store under the previous key, kept until the operator deletes it
}

// RotateStoreKey re-encrypts the JetStream store of dataDir under a new
// key, with crisisbus stopped (the data directory's lock says so). Each
// stream is copied, with its consumers and their positions, from a server
// opened with the current key into a new store under the new key, and the
// copy checked (message count, first and last sequence, every consumer's
// delivered and acknowledged positions) before the new store and key take
// their places. The old store and key are kept, renamed, for the operator to
// delete once crisisbus runs on the new ones.
//
// (nats-server's previous-key option re-keys streams as they are opened,
// but in v2.15 it drops every durable consumer it cannot open with the new
// key, which would make every service handle every event again; a copy
// through snapshot and restore keeps them.)
func RotateStoreKey(ctx context.Context, dataDir, keyFile string, log *zap.Logger) (Rotation, error) {
	cfg := Config{DataDir: dataDir, StoreKey: keyFile, Log: log}
	cfg.setDefaults()
	file := cfg.storeKeyFile()
	r := Rotation{KeyFile: file, OldKey: file + ".old", OldStore: StoreDir(dataDir) + ".before-rotation"}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return r, err
	}
	defer unlock()
	for _, left := range []string{file + ".new", r.OldKey, r.OldStore} {
		if _, err := os.Stat(left); err == nil {
			return r, fmt.Errorf("%s is left from an earlier key rotation: once crisisbus runs on the current key (%s), delete %s and %s, then rotate again",
				left, file, r.OldKey, r.OldStore)
		}
	}
	oldKey, err := readStoreKey(file)
	if err != nil {
		return r, err
	}
	if match, checked, err := keyMatches(dataDir, oldKey); err != nil {
		return r, err
	} else if checked && !match {
		return r, fmt.Errorf("store key file %s does not hold the key the event store in %s was encrypted with", file, StoreDir(dataDir))
	}
	if err := checkStore(cfg, oldKey); err != nil { // repair first: a copy would carry or drop the damage
		return r, err
	}
	newDir := StoreDir(dataDir) + ".rotating"
	if err := os.RemoveAll(newDir); err != nil { // a copy left by an interrupted rotation
		return r, fmt.Errorf("remove %s: %w", newDir, err)
	}
	newKey, err := newStoreKey(file + ".new")
	if err != nil {
		return r, err
	}
	committed := false
	defer func() {
		if !committed {
			os.Remove(file + ".new")
			os.RemoveAll(newDir)
		}
	}()

	from, err := startOffline(StoreDir(dataDir), oldKey, log.Named("old-key"))
	if err != nil {
		return r, err
	}
	defer from.Shutdown()
	if err := checkStoreOpened(from, cfg); err != nil {
		return r, err
	}
	to, err := startOffline(newDir, newKey, log.Named("new-key"))
	if err != nil {
		return r, err
	}
	defer to.Shutdown()
	fromNC, err := connectOffline(from)
	if err != nil {
		return r, fmt.Errorf("connect to the store under the current key: %w", err)
	}
	defer fromNC.Close()
	toNC, err := connectOffline(to)
	if err != nil {
		return r, fmt.Errorf("connect to the store under the new key: %w", err)
	}
	defer toNC.Close()
	fromJS, _ := natsbus.NewJetStream(fromNC)
	toJS, _ := natsbus.NewJetStream(toNC)

	names := fromJS.StreamNames(ctx)
	for name := range names.Name() {
		n, msgs, err := copyStream(ctx, fromNC, fromJS, to, toJS, name)
		if err != nil {
			return r, fmt.Errorf("stream %s: %w", name, err)
		}
		r.Streams++
		r.Messages += msgs
		r.Consumers += n
		log.Info("stream re-encrypted", zap.String("stream", name), zap.Uint64("messages", msgs), zap.Int("consumers", n))
	}
	if err := names.Err(); err != nil {
		return r, fmt.Errorf("list streams: %w", err)
	}
	fromNC.Close()
	toNC.Close()
	from.Shutdown()
	from.WaitForShutdown()
	to.Shutdown()
	to.WaitForShutdown()

	// Commit: the new store in place, then its key.
	if err := os.Rename(StoreDir(dataDir), r.OldStore); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("set the old store aside: %w", err)
	}
	if err := os.Rename(newDir, StoreDir(dataDir)); err != nil {
		return r, fmt.Errorf("put the new store in place (the old one is %s, under the key in %s): %w", r.OldStore, file, err)
	}
	committed = true
	if err := writeKeyCheck(dataDir, newKey); err != nil {
		return r, err
	}
	if err := os.Rename(file, r.OldKey); err != nil {
		return r, fmt.Errorf("the store is under the key in %s.new; move it to %s: %w", file, file, err)
	}
	if err := os.Rename(file+".new", file); err != nil {
		return r, fmt.Errorf("the store is under the key in %s.new; move it to %s: %w", file, file, err)
	}
	return r, nil
}

// startOffline opens a store with a key, taking no network connections.
func startOffline(storeDir, key string, log *zap.Logger) (*server.Server, error) {
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("admin password: %w", err)
	}
	opts := &server.Options{
		ServerName: "crisisbus-rotate-key", DontListen: true, NoSigs: true,
		JetStream: true, StoreDir: storeDir, SyncAlways: true,
		JetStreamKey: key, JetStreamCipher: StoreCipher, JetStreamMaxMemory: 256 << 20,
		// In-process connections are the admin, in the accounts of the
		// running broker, so the same clients work on both.
		NoAuthUser: Admin,
	}
	withAccounts(opts, []*server.User{{Username: Admin, Password: hex.EncodeToString(pw)}})
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server on %s: %w", storeDir, err)
	}
	srv.SetLoggerV2(&zapLogger{s: log.Sugar(), note: func(string) {}}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server on %s not ready", storeDir)
	}
	if err := openStore(srv); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("nats server on %s: %w", storeDir, err)
	}
	return srv, nil
}

// connectOffline connects in-process to a server startOffline started, as
// its admin.
func connectOffline(srv *server.Server) (*nats.Conn, error) {
	return nats.Connect("", nats.InProcessServer(srv), nats.CustomInboxPrefix(rights.InboxPrefix(Admin)))
}

// copyStream snapshots a stream (messages, consumers and their state) from
// one server and restores it on another, then compares the two.
func copyStream(ctx context.Context, fromNC *nats.Conn, fromJS jetstream.JetStream, to *server.Server, toJS jetstream.JetStream, name string) (int, uint64, error) {
	pr, pw := io.Pipe()
	inbox := fromNC.NewInbox()
	sub, err := fromNC.Subscribe(inbox, func(m *nats.Msg) {
		if len(m.Data) == 0 {
			if st := m.Header.Get("Status"); st != "" && st != "204" {
				pw.CloseWithError(fmt.Errorf("snapshot ended with %s %s", st, m.Header.Get("Description")))
				return
			}
			pw.Close()
			return
		}
		if _, err := pw.Write(m.Data); err != nil {
			return
		}
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
	})
	if err != nil {
		return 0, 0, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	req, _ := json.Marshal(server.JSApiStreamSnapshotRequest{DeliverSubject: inbox, ChunkSize: 256 << 10})
	reply, err := fromNC.RequestWithContext(ctx, natsbus.APIPrefix+".STREAM.SNAPSHOT."+name, req)
	if err != nil {
		return 0, 0, fmt.Errorf("snapshot: %w", err)
	}
	var resp server.JSApiStreamSnapshotResponse
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return 0, 0, fmt.Errorf("snapshot: %w", err)
	}
	if resp.Error != nil || resp.Config == nil {
		return 0, 0, fmt.Errorf("snapshot: %v", resp.Error)
	}
	_, err = to.GlobalAccount().RestoreStreamV2(resp.Config, pr) // the format of mset.snapshot in v2.15
	pr.CloseWithError(errors.New("restore finished"))
	if err != nil {
		return 0, 0, fmt.Errorf("restore under the new key: %w", err)
	}
	return compareStreams(ctx, fromJS, toJS, name)
}

func compareStreams(ctx context.Context, fromJS, toJS jetstream.JetStream, name string) (int, uint64, error) {
	a, err := streamInfo(ctx, fromJS, name)
	if err != nil {
		return 0, 0, err
	}
	b, err := streamInfo(ctx, toJS, name)
	if err != nil {
		return 0, 0, fmt.Errorf("after restore: %w", err)
	}
	firstDiffers := a.State.Msgs > 0 && a.State.FirstSeq != b.State.FirstSeq // an empty stream has no first
	if a.State.Msgs != b.State.Msgs || firstDiffers || a.State.LastSeq != b.State.LastSeq || a.State.Consumers != b.State.Consumers {
		return 0, 0, fmt.Errorf("copy differs: %d messages (sequences %d-%d), %d consumers under the current key; %d (%d-%d), %d under the new",
			a.State.Msgs, a.State.FirstSeq, a.State.LastSeq, a.State.Consumers, b.State.Msgs, b.State.FirstSeq, b.State.LastSeq, b.State.Consumers)
	}
	sa, _ := fromJS.Stream(ctx, name)
	sb, _ := toJS.Stream(ctx, name)
	consumers := sa.ListConsumers(ctx)
	for ca := range consumers.Info() {
		c, err := sb.Consumer(ctx, ca.Name)
		if err != nil {
			return 0, 0, fmt.Errorf("consumer %s not carried over: %w", ca.Name, err)
		}
		cb, err := c.Info(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("consumer %s: %w", ca.Name, err)
		}
		if ca.Delivered.Stream != cb.Delivered.Stream || ca.AckFloor.Stream != cb.AckFloor.Stream {
			return 0, 0, fmt.Errorf("consumer %s: delivered %d, acknowledged %d under the current key; %d, %d under the new",
				ca.Name, ca.Delivered.Stream, ca.AckFloor.Stream, cb.Delivered.Stream, cb.AckFloor.Stream)
		}
	}
	if err := consumers.Err(); err != nil {
		return 0, 0, fmt.Errorf("list consumers: %w", err)
	}
	return b.State.Consumers, b.State.Msgs, nil
}

func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}
