package broker

// Repair of a damaged store. Every intact message of a damaged block is kept
// with its own sequence number and time: the block is written again holding
// the intact records byte for byte, and in place of the damaged stretch one
// erased-sequence record per lost sequence, the record nats-server writes
// when it skips a sequence. So the stream keeps its sequence numbers (an
// episode's expected last sequence, the durable consumers' positions and the
// sequences people quote from the console all still mean what they meant),
// a lost sequence reads as deleted, and the stream's last sequence never goes
// back (a new event never takes the number of a lost one).

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events/natsbus"
)

// Repair is what RepairStore did.
type Repair struct {
	Streams  []StreamRepair // the streams that had damaged blocks
	OldStore string         // the damaged store, kept until the operator deletes it
}

// StreamRepair is the repair of one stream.
type StreamRepair struct {
	Stream string
	Blocks []string // the damaged block files (in the old store)
	Kept   uint64   // messages the repaired stream holds (as its server counts them)
	Lost   []uint64 // sequences whose messages were damaged
	// LostUnknownAfter is set when the damage ran to the end of the stream
	// and its state file could not say how many messages followed: the
	// messages after this sequence were lost, how many is unknown.
	LostUnknownAfter uint64
	LostUnknown      bool
}

// LostWords says which sequences were lost, as ranges.
func (s StreamRepair) LostWords() string {
	w := "none"
	if len(s.Lost) > 0 {
		w = seqRanges(s.Lost)
	}
	if s.LostUnknown {
		w += fmt.Sprintf("; and those after %d (how many is unknown)", s.LostUnknownAfter)
	}
	return w
}

// RepairStore writes a new store from the store of dataDir with every intact
// message of its damaged blocks, with crisisbus stopped (the data
// directory's lock says so), checks that a server opens it with every
// stream and the messages expected, then puts it in place; the damaged
// store is kept beside it. A store with no damaged block is left as it is
// (the result has no streams).
func RepairStore(ctx context.Context, dataDir, keyFile string, log *zap.Logger) (Repair, error) {
	cfg := Config{DataDir: dataDir, StoreKey: keyFile, Log: log}
	cfg.setDefaults()
	r := Repair{OldStore: StoreDir(dataDir) + ".before-repair"}
	if _, err := os.Stat(StoreDir(dataDir)); err != nil {
		return r, fmt.Errorf("no event store in %s: %w", dataDir, err)
	}
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return r, err
	}
	defer unlock()
	if _, err := os.Stat(r.OldStore); err == nil {
		return r, fmt.Errorf("%s is left from an earlier repair: once crisisbus runs on the repaired store, delete it, then repair again", r.OldStore)
	}
	key, err := repairKey(cfg)
	if err != nil {
		return r, err
	}
	streams, err := scanStore(StoreDir(dataDir), key)
	if err != nil {
		return r, fmt.Errorf("read the event store: %w", err)
	}
	newDir := StoreDir(dataDir) + ".repairing"
	if err := os.RemoveAll(newDir); err != nil { // left by an interrupted repair
		return r, fmt.Errorf("remove %s: %w", newDir, err)
	}
	var damaged []*streamScan
	for _, s := range streams {
		if len(s.damage) > 0 {
			damaged = append(damaged, s)
		}
	}
	if len(damaged) == 0 {
		return r, nil
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(newDir)
		}
	}()
	if err := copyTree(StoreDir(dataDir), newDir); err != nil {
		return r, fmt.Errorf("copy the store: %w", err)
	}
	want := map[string]liveCount{}
	for _, s := range damaged {
		rel, _ := filepath.Rel(StoreDir(dataDir), s.dir)
		dir := filepath.Join(newDir, rel)
		sr := StreamRepair{Stream: s.name}
		for _, b := range s.blocks {
			if len(b.damage) == 0 {
				continue
			}
			sr.Blocks = append(sr.Blocks, b.file)
			if err := s.rewriteBlock(dir, b); err != nil {
				return r, fmt.Errorf("stream %s: write block %d: %w", s.name, b.index, err)
			}
			for _, d := range b.damage {
				sr.Lost = append(sr.Lost, d.Lost...)
				if d.unknown {
					sr.LostUnknown, sr.LostUnknownAfter = true, d.LostUnknownAfter
				}
			}
		}
		// The state file counts the lost messages: the server rebuilds it from the blocks.
		if err := os.Remove(filepath.Join(dir, "msgs", "index.db")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r, err
		}
		n, exact := s.liveMessages()
		want[s.name] = liveCount{n, exact}
		sr.Kept = n
		r.Streams = append(r.Streams, sr)
		log.Info("stream repaired", zap.String("stream", s.name), zap.Strings("blocks", sr.Blocks), zap.Int("lost", len(sr.Lost)))
	}

	// Check: no damage left, and a server opens every stream with the messages kept.
	again, err := scanStore(newDir, key)
	if err != nil {
		return r, fmt.Errorf("read the repaired store: %w", err)
	}
	for _, s := range again {
		if len(s.damage) > 0 {
			return r, fmt.Errorf("the repaired store is still damaged: %s", (&DamagedStoreError{DataDir: dataDir, Damage: s.damage}).Error())
		}
	}
	if err := checkRepaired(ctx, newDir, key, len(streams), want, r.Streams, log); err != nil {
		return r, err
	}

	// Commit: the damaged store aside, the repaired one in its place.
	if err := os.Rename(StoreDir(dataDir), r.OldStore); err != nil {
		return r, fmt.Errorf("set the damaged store aside: %w", err)
	}
	if err := os.Rename(newDir, StoreDir(dataDir)); err != nil {
		return r, fmt.Errorf("put the repaired store in place (the damaged one is %s; move it back to %s): %w", r.OldStore, StoreDir(dataDir), err)
	}
	committed = true
	return r, nil
}

// repairKey is the store key, as Start would use it ("" for a store written
// unencrypted by an earlier crisisbus).
func repairKey(cfg Config) (string, error) {
	file := cfg.storeKeyFile()
	_, encrypted := storedStreams(StoreDir(cfg.DataDir))
	key, err := readStoreKey(file)
	if errors.Is(err, fs.ErrNotExist) && encrypted == 0 {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if match, checked, err := keyMatches(cfg.DataDir, key); err != nil {
		return "", err
	} else if checked && !match {
		return "", fmt.Errorf("store key file %s does not hold the key the event store in %s was encrypted with: give the right key file with --store-key or %s",
			file, StoreDir(cfg.DataDir), StoreKeyEnv)
	}
	return key, nil
}

// liveMessages counts the intact messages of the stream: what the repaired
// stream must hold, exactly when no tombstone deletes any of them (as in the
// event stream, which denies deletes), at most otherwise.
func (s *streamScan) liveMessages() (n uint64, exact bool) {
	exact = true
	for _, b := range s.blocks {
		n += b.live
		exact = exact && len(b.tombs) == 0
	}
	return n, exact
}

type liveCount struct {
	n     uint64
	exact bool
}

// rewriteBlock writes block b of the stream into the stream directory dir:
// its intact records and an erased record for each lost sequence, under a
// new block key.
func (s *streamScan) rewriteBlock(dir string, b *blockScan) error {
	if b.plain == nil {
		return fmt.Errorf("%s cannot be read (%s)", b.file, b.damage[0].Problem)
	}
	hh := blockHasher(s.name, b.index)
	out := make([]byte, 0, len(b.plain))
	var ts int64
	ri, di := 0, 0
	for ri < len(b.records) || di < len(b.damage) {
		if di < len(b.damage) && (ri == len(b.records) || b.damage[di].Offset < b.records[ri].off) {
			for _, seq := range b.damage[di].Lost {
				out = appendErased(out, hh, seq, ts)
			}
			di++
			continue
		}
		rec := b.records[ri]
		out = append(out, b.plain[rec.off:rec.off+rec.len]...)
		if !rec.tomb {
			ts = rec.ts
		}
		ri++
	}
	msgs := filepath.Join(dir, "msgs")
	blk := filepath.Join(msgs, fmt.Sprintf("%d.blk", b.index))
	if s.encrypted {
		seed, nonce, ekey, err := s.crypto.newBlockKey(s.name, b.index)
		if err != nil {
			return err
		}
		if err := blockXOR(seed, nonce, out); err != nil {
			return err
		}
		if err := writeSynced(filepath.Join(msgs, fmt.Sprintf("%d.key", b.index)), ekey); err != nil {
			return err
		}
	}
	return writeSynced(blk, out)
}

// appendErased appends the record of an erased sequence: no subject, no
// message, the sequence with its erased bit.
func appendErased(out []byte, hh highwayhashDigest, seq uint64, ts int64) []byte {
	var rec [recEmptyLen]byte
	le := binary.LittleEndian
	le.PutUint32(rec[0:], recEmptyLen)
	le.PutUint64(rec[4:], seq|recErasedBit)
	le.PutUint64(rec[12:], uint64(ts))
	hh.Reset()
	hh.Write(rec[4:20])
	copy(rec[recHdrSize:], hh.Sum(nil))
	return append(out, rec[:]...)
}

// newBlockKey makes a block's seed and nonce and its sealed key file.
func (c storeCrypto) newBlockKey(stream string, index uint32) (seed, nonce, ekey []byte, err error) {
	kek, err := c.kek(fmt.Sprintf("%s:%d", stream, index))
	if err != nil {
		return nil, nil, nil, err
	}
	seed = make([]byte, 32)
	nonce = make([]byte, kek.NonceSize())
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, nil, err
	}
	return seed, nonce, kek.Seal(append([]byte(nil), nonce...), nonce, seed, nil), nil
}

func writeSynced(file string, b []byte) error { return writeFileSynced(file, b, os.O_TRUNC) }

// copyTree copies the directory from to to, file by file (not linked: the
// server appends to blocks in place, which would change the kept original).
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, src); err != nil {
			out.Close()
			return err
		}
		if err := out.Sync(); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

// checkRepaired opens the repaired store on a server taking no connections
// and checks it opened every stream, each repaired stream with the messages
// kept and its last sequence no lower than the last one lost.
func checkRepaired(ctx context.Context, dir, key string, streams int, want map[string]liveCount, repaired []StreamRepair, log *zap.Logger) error {
	srv, err := startOffline(dir, key, log.Named("repaired"))
	if err != nil {
		return fmt.Errorf("open the repaired store: %w", err)
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	if acc := srv.GlobalAccount(); acc != nil {
		if n := acc.JetStreamUsage().Streams; n < streams {
			return fmt.Errorf("the server opened %d of the %d streams of the repaired store %s", n, streams, dir)
		}
	}
	nc, err := connectOffline(srv)
	if err != nil {
		return fmt.Errorf("connect to the repaired store: %w", err)
	}
	defer nc.Close()
	js, _ := natsbus.NewJetStream(nc)
	for i := range repaired {
		sr := &repaired[i]
		info, err := streamInfo(ctx, js, sr.Stream)
		if err != nil {
			return fmt.Errorf("repaired stream %s: %w", sr.Stream, err)
		}
		if w := want[sr.Stream]; info.State.Msgs > w.n || w.exact && info.State.Msgs != w.n {
			return fmt.Errorf("repaired stream %s holds %d messages, want the %d intact ones", sr.Stream, info.State.Msgs, w.n)
		}
		sr.Kept = info.State.Msgs
		lost := append([]uint64(nil), sr.Lost...)
		sort.Slice(lost, func(a, b int) bool { return lost[a] < lost[b] })
		if len(lost) > 0 && info.State.LastSeq < lost[len(lost)-1] {
			return fmt.Errorf("repaired stream %s ends at sequence %d, before the lost sequence %d", sr.Stream, info.State.LastSeq, lost[len(lost)-1])
		}
	}
	return nil
}
