// Package broker runs crisisbus's embedded default: a NATS server with
// JetStream on a local data directory, with one user per identity of the
// table of rights (broker/rights): what each may publish, subscribe to, and
// which consumers and buckets it owns. Police can publish only on
// crisis.police.> and read only what is addressed to police. The users are
// in an account without JetStream; the store is behind it, in the global
// account (accounts.go). Acknowledged means fsynced: the server syncs every
// write.
package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/denied"
	"github.com/crisisbus/crisisbus/internal/logsafe"
)

// Admin is the user for provisioning and bulk tools; it may do everything.
const Admin = rights.Admin

// Console is the web console's user: it publishes no events itself (people
// act through their agency's service), it calls services and keeps its
// sign-in sessions in a key-value bucket.
const Console = rights.Console

// Config configures the embedded server.
type Config struct {
	DataDir string      // default "./data"
	Host    string      // default 127.0.0.1
	Port    int         // default 4222; -1 picks a free port
	Log     *zap.Logger // default no logging
	// StoreKey is the file holding the key the JetStream store is encrypted
	// with; default DefaultStoreKeyFile(DataDir), beside the data directory.
	StoreKey string
	// SpaceCheckEvery is how often the broker checks the store's disk (see
	// StoreStatus); default 2s.
	SpaceCheckEvery time.Duration
	// MonitorAddr is where the NATS server serves its own monitoring
	// endpoint (DefaultMonitorAddr for `crisisbus up`); "" or "off": none.
	MonitorAddr string
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.Port == 0 {
		c.Port = 4222
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.SpaceCheckEvery == 0 {
		c.SpaceCheckEvery = 2 * time.Second
	}
}

// Credentials maps each NATS user (an agency, or Admin) to its password.
type Credentials map[string]string

// CredentialsFile is where the embedded server keeps its users' passwords,
// inside the data directory, readable only by its owner.
func CredentialsFile(dataDir string) string { return filepath.Join(dataDir, "credentials.json") }

// LoadCredentials reads the credentials file of a data directory.
func LoadCredentials(dataDir string) (Credentials, error) {
	c, err := ReadCredentials(CredentialsFile(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (has `crisisbus up` run with --data %s?)", err, dataDir)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ReadCredentials reads a credentials file: a JSON object of user → password.
func ReadCredentials(file string) (Credentials, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		if fault, ok := logsafe.JSONFault(err); ok {
			return nil, fmt.Errorf("credentials file %s is damaged: %s; restore it from a backup (for the embedded default, with crisisbus stopped, removing it has `crisisbus up` make new passwords)", file, fault)
		}
		return nil, fmt.Errorf("credentials file %s: %w", file, err)
	}
	return c, nil
}

func loadOrCreateCredentials(dataDir string) (Credentials, error) {
	c, err := LoadCredentials(dataDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if c == nil {
		c = Credentials{}
	}
	changed := false
	for _, u := range rights.Users() {
		if c[u] != "" {
			continue
		}
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		c[u], changed = hex.EncodeToString(b), true
	}
	if changed {
		b, _ := json.MarshalIndent(c, "", "  ")
		if err := os.WriteFile(CredentialsFile(dataDir), b, 0o600); err != nil {
			return nil, fmt.Errorf("write credentials: %w", err)
		}
	}
	return c, nil
}

// Permissions are the NATS permissions of a user, from the one table of
// rights (broker/rights); nil for the admin user, who may do everything.
func Permissions(user string) (*server.Permissions, error) {
	id, err := rights.Lookup(user)
	if err != nil {
		return nil, err
	}
	if id.All {
		return nil, nil
	}
	s := id.Subjects()
	p := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: s.PublishAllow, Deny: s.PublishDeny},
		Subscribe: &server.SubjectPermission{Allow: s.SubscribeAllow},
	}
	if s.Responds {
		p.Response = &server.ResponsePermission{MaxMsgs: 1, Expires: time.Minute}
	}
	return p, nil
}

// Broker is a running embedded server.
type Broker struct {
	srv    *server.Server
	opts   *server.Options
	creds  Credentials
	cfg    Config
	unlock func()
	space  space
	// shutdown makes Shutdown run once; marking is the start marks being
	// written (storemark.go).
	shutdown sync.Once
	marking  sync.WaitGroup
}

// Start starts the server and waits until it takes connections.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	cfg.setDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	creds, err := loadOrCreateCredentials(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	// The server holds only bcrypt hashes; the clients' file holds the passwords.
	hash := func(u string) (string, error) {
		h, err := bcrypt.GenerateFromPassword([]byte(creds[u]), bcrypt.MinCost)
		return string(h), err
	}
	var users []*server.User
	for _, u := range rights.Users() {
		h, err := hash(u)
		if err != nil {
			return nil, err
		}
		perms, err := Permissions(u)
		if err != nil {
			return nil, err
		}
		users = append(users, &server.User{Username: u, Password: h, Permissions: perms})
	}
	opts := &server.Options{
		ServerName: "crisisbus",
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "jetstream"),
		SyncAlways: true,
		// Every stream and bucket is synced at each write but the
		// Unsynced buckets (rebuilt from the stream), synced this often.
		SyncInterval:       rights.UnsyncedWindow,
		NoSigs:             true,
		MaxPayload:         4 << 20,
		JetStreamMaxMemory: 256 << 20,
		// The store may use the whole disk; the broker guards the disk
		// (space.go), so the share never shrinks below what it holds.
		JetStreamMaxStore: wholeDisk(cfg.DataDir),
		// A command's facts go as one batch (natsbus.PublishAtomic): no
		// batch larger, or staged on disk longer, than a command needs.
		JetStreamLimits: server.JSLimitOpts{MaxBatchSize: natsbus.MaxBatch, MaxBatchTimeout: natsbus.BatchTimeout},
	}
	withAccounts(opts, users)
	if err := monitor(cfg, opts); err != nil {
		return nil, err
	}
	if err := portsFree(opts); err != nil {
		return nil, err
	}
	if err := encryptStore(cfg, opts); err != nil {
		return nil, err
	}
	if err := checkStore(cfg, opts.JetStreamKey); err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	b := &Broker{srv: srv, opts: opts, creds: creds, cfg: cfg, space: space{stop: make(chan struct{}), done: make(chan struct{})}}
	srv.SetLoggerV2(&zapLogger{s: cfg.Log.Named("nats").Sugar(), note: b.space.noteLog}, false, false, false)
	go srv.Start()
	deadline := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !srv.ReadyForConnections(deadline) {
		srv.Shutdown()
		return nil, fmt.Errorf("the NATS server did not take connections within %s (its log above says why)", deadline.Round(time.Second))
	}
	if err := openStore(srv); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, err
	}
	if err := checkStoreOpened(srv, cfg); err != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, err
	}
	b.unlock, unlock = unlock, nil
	b.markStoreStarted()
	go b.watchSpace(cfg.SpaceCheckEvery)
	return b, nil
}

// URL is the client URL (without credentials).
func (b *Broker) URL() string { return b.srv.ClientURL() }

// DataDir is where the server keeps its data and credentials.
func (b *Broker) DataDir() string { return b.cfg.DataDir }

// Credentials returns the users' passwords.
func (b *Broker) Credentials() Credentials { return b.creds }

// Connect opens a connection as an agency's user ("" for Admin).
func (b *Broker) Connect(a events.Agency, opts ...nats.Option) (*nats.Conn, error) {
	return ConnectAs(b.URL(), b.creds, a, opts...)
}

// Shutdown stops the server and waits until it has. It may be called again.
func (b *Broker) Shutdown() {
	b.shutdown.Do(func() {
		close(b.space.stop)
		<-b.space.done
		b.marking.Wait()
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		b.unlock()
	})
}

// ConnectAs connects to url as agency a ("" for Admin) using creds.
func ConnectAs(u string, creds Credentials, a events.Agency, opts ...nats.Option) (*nats.Conn, error) {
	user := string(a)
	if user == "" {
		user = Admin
	}
	pw, ok := creds[user]
	if !ok {
		return nil, fmt.Errorf("no credentials for user %q", user)
	}
	name := "crisisbus-" + user
	all := append([]nats.Option{nats.UserInfo(user, pw), nats.Name(name), nats.CustomInboxPrefix(rights.InboxPrefix(user)),
		nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		// A server that stops answering (a frozen node) is noticed within
		// about 15 s and the client moves to another, not after minutes.
		nats.PingInterval(5 * time.Second), nats.MaxPingsOutstanding(3)}, opts...)
	watch, register := denied.Option(all)
	nc, err := nats.Connect(u, append(all, watch)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s as %s: %w", redact(u), user, err)
	}
	register(nc)
	return nc, nil
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	p.User = url.User(p.User.Username())
	return p.String()
}

// zapLogger logs the server's lines with zap, and tells note its warnings
// and errors (how the broker learns a write failed for lack of space).
type zapLogger struct {
	s    *zap.SugaredLogger
	note func(string)
}

func (l *zapLogger) Noticef(f string, v ...any) { l.s.Debugf(f, v...) }
func (l *zapLogger) Warnf(f string, v ...any)   { l.note(fmt.Sprintf(f, v...)); l.s.Warnf(f, v...) }
func (l *zapLogger) Fatalf(f string, v ...any)  { l.note(fmt.Sprintf(f, v...)); l.s.Errorf(f, v...) }
func (l *zapLogger) Errorf(f string, v ...any)  { l.note(fmt.Sprintf(f, v...)); l.s.Errorf(f, v...) }
func (l *zapLogger) Debugf(f string, v ...any)  { l.s.Debugf(f, v...) }
func (l *zapLogger) Tracef(f string, v ...any)  {}
