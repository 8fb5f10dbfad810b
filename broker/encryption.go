package broker

// Encryption at rest. The embedded server encrypts its JetStream store (every
// stream, key-value bucket and consumer: the events hold health histories,
// people's own words and NHS numbers) with nats-server's store cipher. The
// key is a random 256-bit value generated on first start and kept in a file
// outside the data directory, readable only by its owner: a copy or backup
// of the data directory, or a disk holding only it, does not carry its key.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// StoreKeyEnv names the environment variable the command line reads for the
// store key file when --store-key is not given.
const StoreKeyEnv = "CRISISBUS_STORE_KEY"

// StoreCipher is the cipher of the embedded store: AES-GCM (hardware
// accelerated on the servers crisisbus runs on, and an approved algorithm).
const StoreCipher = server.AES

// DefaultStoreKeyFile is where the store key of a data directory is kept
// unless told otherwise: beside the directory, not in it (data → data.key).
func DefaultStoreKeyFile(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = filepath.Clean(dataDir)
	}
	return abs + ".key"
}

// StoreDir is the JetStream store of a data directory.
func StoreDir(dataDir string) string { return filepath.Join(dataDir, "jetstream") }

// keyCheckFile holds a keyed hash of the store key (not the key), so a wrong
// key is refused before the server opens the store.
func keyCheckFile(dataDir string) string { return filepath.Join(dataDir, "store-key.check") }

const keyCheckLabel = "crisisbus store key check v1"

func (c *Config) storeKeyFile() string {
	if c.StoreKey != "" {
		return c.StoreKey
	}
	return DefaultStoreKeyFile(c.DataDir)
}

// readStoreKey reads a key file: 64 hex digits (32 random bytes).
func readStoreKey(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("store key: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(k); err != nil || len(raw) != 32 {
		return "", fmt.Errorf("store key file %s does not hold a crisisbus key (64 hex digits); restore it from where you keep the key", file)
	}
	return k, nil
}

// newStoreKey generates a key and writes it to file, readable only by its
// owner; it never replaces an existing file.
func newStoreKey(file string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate store key: %w", err)
	}
	k := hex.EncodeToString(b)
	if err := writeNewFile(file, []byte(k+"\n")); err != nil {
		return "", fmt.Errorf("write store key: %w", err)
	}
	return k, nil
}

func writeNewFile(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return writeFileSynced(file, b, os.O_EXCL)
}

// writeFileSynced writes b to file (mode 0600, created if need be, with
// flag's extra open flags) and syncs it to disk before it returns.
func writeFileSynced(file string, b []byte, flag int) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func keyCheck(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(keyCheckLabel))
	return hex.EncodeToString(m.Sum(nil))
}

func writeKeyCheck(dataDir, key string) error {
	tmp := keyCheckFile(dataDir) + ".tmp"
	_ = os.Remove(tmp)
	if err := writeNewFile(tmp, []byte(keyCheckLabel+"\n"+keyCheck(key)+"\n")); err != nil {
		return fmt.Errorf("write store key check: %w", err)
	}
	if err := os.Rename(tmp, keyCheckFile(dataDir)); err != nil {
		return fmt.Errorf("write store key check: %w", err)
	}
	return nil
}

// keyMatches says whether key is the one the store's check file was written
// for; ok is false when there is no check file.
func keyMatches(dataDir, key string) (match, ok bool, err error) {
	b, err := os.ReadFile(keyCheckFile(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("store key check: %w", err)
	}
	lines := strings.Fields(string(b))
	return len(lines) > 0 && hmac.Equal([]byte(lines[len(lines)-1]), []byte(keyCheck(key))), true, nil
}

// storedStreams lists the streams on disk in a JetStream store, and how
// many of them are encrypted. (The server keeps each account's streams in
// <store dir>/jetstream/<account>/streams/<stream>.)
func storedStreams(storeDir string) (names []string, encrypted int) {
	metas, _ := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", "*", "meta.inf"))
	for _, m := range metas {
		dir := filepath.Dir(m)
		if strings.HasPrefix(filepath.Base(dir), ".") {
			continue // a stream being deleted
		}
		names = append(names, filepath.Base(dir))
		if _, err := os.Stat(filepath.Join(dir, "meta.key")); err == nil {
			encrypted++
		}
	}
	return names, encrypted
}

// within says whether path is dir or inside it.
func within(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// encryptStore loads the store key (creating it on the first start of an
// empty or unencrypted store) and sets it on opts. It refuses, before the
// server touches the store, a key file inside the data directory, a missing
// key for an encrypted store and a key the store was not encrypted with.
// A store written unencrypted by an earlier crisisbus is encrypted by the
// server as it opens it.
func encryptStore(cfg Config, opts *server.Options) error {
	file := cfg.storeKeyFile()
	if within(file, cfg.DataDir) {
		return fmt.Errorf("store key file %s is inside the data directory %s: keep it elsewhere (the default is %s), or a copy of the data directory carries its own key",
			file, cfg.DataDir, DefaultStoreKeyFile(cfg.DataDir))
	}
	streams, encrypted := storedStreams(StoreDir(cfg.DataDir))
	_, checked, err := keyMatches(cfg.DataDir, "")
	if err != nil {
		return err
	}
	key, err := readStoreKey(file)
	switch {
	case errors.Is(err, fs.ErrNotExist) && (encrypted > 0 || checked):
		return fmt.Errorf("the event store in %s is encrypted and its key file %s is missing: put the key file back (from where you keep its copy), "+
			"or give its place with --store-key or %s. Nothing was changed: no new key was made, the store cannot be read without its own key",
			StoreDir(cfg.DataDir), file, StoreKeyEnv)
	case errors.Is(err, fs.ErrNotExist):
		if key, err = newStoreKey(file); err != nil {
			return err
		}
		if len(streams) > 0 {
			cfg.Log.Info("encrypting the event store written unencrypted by an earlier crisisbus",
				zap.String("store", StoreDir(cfg.DataDir)), zap.Strings("streams", streams), zap.String("key_file", file))
		}
	case err != nil:
		return err
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		cfg.Log.Warn("store key file is readable by others than its owner: chmod 600 it", zap.String("key_file", file), zap.Stringer("mode", fi.Mode().Perm()))
	}
	match, checked, err := keyMatches(cfg.DataDir, key)
	if err != nil {
		return err
	}
	if checked && !match {
		return fmt.Errorf("store key file %s does not hold the key the event store in %s was encrypted with: give the right key file with --store-key or %s "+
			"(after an interrupted `crisisbus rotate-key`, look for %s.new and %s.old)", file, StoreDir(cfg.DataDir), StoreKeyEnv, file, file)
	}
	if !checked {
		if err := writeKeyCheck(cfg.DataDir, key); err != nil {
			return err
		}
	}
	opts.JetStreamKey, opts.JetStreamCipher = key, StoreCipher
	return nil
}

// checkStoreOpened fails when the server left a stream on disk unopened
// (it logs a warning and carries on without it, for instance when the
// stream was encrypted with another key): running without it would lose
// events, and provisioning would create an empty stream over it.
func checkStoreOpened(srv *server.Server, cfg Config) error {
	streams, _ := storedStreams(StoreDir(cfg.DataDir))
	acc := srv.GlobalAccount()
	if acc == nil {
		return nil
	}
	if n := acc.JetStreamUsage().Streams; n < len(streams) {
		return fmt.Errorf("the server opened %d of the %d streams in %s (%s): if they were encrypted with another key, give its file with --store-key or %s (now %s); the server's log says why",
			n, len(streams), StoreDir(cfg.DataDir), strings.Join(streams, ", "), StoreKeyEnv, cfg.storeKeyFile())
	}
	return nil
}
