package broker

// A damaged store. Before the server opens the store, every message block of
// every stream is read, decrypted and each message checked against the hash
// the server wrote with it. A block with changed bytes stops the start with
// an error that names the file, says what is wrong with it, and names the
// command that recovers (`crisisbus repair`): nats-server itself, given such
// a block, may truncate it (losing every message after the damage, events
// that were acknowledged) or, with a damaged length, try to allocate from it.
// The check never allocates from a length it read: a record's length is
// checked against the bytes that are there before anything is read with it.
//
// The layout read here is nats-server v2.15's file store (filestore.go):
//
//	<store>/jetstream/<account>/streams/<stream>/msgs/<n>.blk  message block n
//	<store>/jetstream/<account>/streams/<stream>/msgs/<n>.key  its key
//	<store>/jetstream/<account>/streams/<stream>/msgs/index.db the stream's state
//	<store>/jetstream/<account>/streams/<stream>/meta.key      the stream's key
//
// A block is a run of records:
//
//	length(4) sequence(8) timestamp(8) subject length(2) subject
//	[header length(4) headers] message hash(8)
//
// the length's top bit saying whether there are headers, the sequence's top
// bits marking an erased (skipped) sequence or a tombstone, and the hash a
// HighwayHash-64, keyed by SHA-256("<stream>-<n>"), of sequence, timestamp,
// subject, headers and message. An encrypted block is AES-CTR over the whole
// file under a per-block seed and nonce; the block's key file holds them,
// sealed with AES-GCM (16-byte nonce) under HMAC-SHA256(store key,
// account || "<stream>:<n>").

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/minio/highwayhash"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
)

const (
	recHdrSize   = 22 // length, sequence, timestamp, subject length
	recHashSize  = 8  // the HighwayHash-64 at the end of each record
	recEmptyLen  = recHdrSize + recHashSize
	recHdrBit    = 1 << 31         // on the length: the record has headers
	recErasedBit = uint64(1 << 63) // on the sequence: an erased (skipped) sequence
	recTombBit   = uint64(1 << 62) // on the sequence: a tombstone of a deleted message
	// maxRecordLen is the server's own bound on a record (rlBadThresh).
	maxRecordLen = 32 << 20
	// maxBlockFile bounds a block file the check reads whole: the server
	// writes encrypted blocks of at most 2 MB (8 MB unencrypted), plus at
	// most one message over (crisisbus's limit is 4 MB).
	maxBlockFile = 64 << 20
)

// DamagedStoreError is a start refused because a message block of the store
// is damaged.
type DamagedStoreError struct {
	DataDir string
	Damage  []BlockDamage
}

// BlockDamage is one damaged stretch of a block file.
type BlockDamage struct {
	Stream  string
	File    string // the block file
	Offset  int    // where in the (decrypted) block the damage starts
	End     int    // where the next intact message starts (the file's length if none)
	Problem string // what is wrong, in words
	// Lost are the sequences of the stream the damaged stretch held, as far
	// as the messages around it tell; LostUnknownAfter is set (to the last
	// sequence known) when the damage runs to the end of the stream and the
	// stream's state file cannot say how many followed.
	Lost             []uint64
	LostUnknownAfter uint64
	unknown          bool // the count of lost messages is unknown
	short            bool // the file ends inside the damaged record
}

func (e *DamagedStoreError) Error() string {
	d := e.Damage[0]
	more := ""
	if len(e.Damage) > 1 {
		more = fmt.Sprintf(" (and %d more damaged places)", len(e.Damage)-1)
	}
	return fmt.Sprintf("the event store is damaged: block file %s of stream %s: %s, at byte %d (%d bytes unreadable, %s)%s. "+
		"Nothing was changed. With crisisbus stopped, `crisisbus repair --data %s` keeps every intact event and sets the damaged store aside",
		d.File, d.Stream, d.Problem, d.Offset, d.End-d.Offset, d.lostWords(), more, e.DataDir)
}

// lostWords says which sequences the damage held.
func (d BlockDamage) lostWords() string {
	switch {
	case d.unknown:
		return fmt.Sprintf("holding the messages after sequence %d, how many unknown", d.LostUnknownAfter)
	case len(d.Lost) == 0:
		return "no message lost"
	default:
		return "holding sequences " + seqRanges(d.Lost)
	}
}

// seqRanges writes sequences as ranges: 4-9, 12.
func seqRanges(seqs []uint64) string {
	var parts []string
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.FormatUint(seqs[i], 10))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", seqs[i], seqs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// storeCrypto derives nats-server's store keys from the store key.
type storeCrypto struct {
	key     string // the store key as the server is given it (64 hex digits)
	account string
}

func (c storeCrypto) kek(context string) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, []byte(c.key))
	m.Write([]byte(c.account))
	m.Write([]byte(context))
	return gcm16(m.Sum(nil))
}

func gcm16(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithNonceSize(b, b.BlockSize())
}

// openSealed opens a nonce||sealed key file under the key derived for context.
func (c storeCrypto) openSealed(context string, ekey []byte) (seed, nonce []byte, err error) {
	kek, err := c.kek(context)
	if err != nil {
		return nil, nil, err
	}
	ns := kek.NonceSize()
	if len(ekey) < ns+kek.Overhead()+32 {
		return nil, nil, fmt.Errorf("too short (%d bytes)", len(ekey))
	}
	seed, err = kek.Open(nil, ekey[:ns], ekey[ns:], nil)
	if err != nil {
		return nil, nil, err
	}
	return seed, ekey[:ns], nil
}

func blockXOR(seed, nonce, buf []byte) error {
	b, err := aes.NewCipher(seed)
	if err != nil {
		return err
	}
	cipher.NewCTR(b, nonce).XORKeyStream(buf, buf)
	return nil
}

func blockHasher(stream string, index uint32) highwayhashDigest {
	key := sha256.Sum256([]byte(fmt.Sprintf("%s-%d", stream, index)))
	h, _ := highwayhash.New64(key[:])
	return h
}

type highwayhashDigest interface {
	Reset()
	Write([]byte) (int, error)
	Sum([]byte) []byte
}

// record is an intact record of a block.
type record struct {
	off, len int
	seq      uint64 // without the erased and tombstone bits
	ts       int64
	erased   bool // a skipped or erased sequence: no message
	tomb     bool // a tombstone: seq is a message deleted elsewhere
}

// blockScan is what a block holds.
type blockScan struct {
	index   uint32
	file    string
	size    int      // bytes in the file
	plain   []byte   // decrypted contents (kept only for a damaged block)
	records []record // its intact records (kept only for a damaged block)
	// What the block holds: first and last sequence (tombstones aside),
	// messages, and the sequences its tombstones delete.
	first, last, live uint64
	tombs             []uint64
	damage            []BlockDamage
	skipped           string // why the block was not read, if it was not
}

// readBlock reads and decrypts a block file.
func (c storeCrypto) readBlock(stream, msgsDir string, index uint32, encrypted bool) (*blockScan, error) {
	b := &blockScan{index: index, file: filepath.Join(msgsDir, fmt.Sprintf("%d.blk", index))}
	fi, err := os.Stat(b.file)
	if err != nil {
		return nil, fmt.Errorf("block file: %w", err)
	}
	if fi.Size() > maxBlockFile {
		b.damage = append(b.damage, BlockDamage{Stream: stream, File: b.file, End: int(fi.Size()),
			Problem: fmt.Sprintf("the file is %d bytes, larger than any block the server writes", fi.Size())})
		return b, nil
	}
	if b.plain, err = os.ReadFile(b.file); err != nil {
		return nil, fmt.Errorf("block file: %w", err)
	}
	b.size = len(b.plain)
	if encrypted && len(b.plain) > 0 {
		keyFile := filepath.Join(msgsDir, fmt.Sprintf("%d.key", index))
		ekey, err := os.ReadFile(keyFile)
		if errors.Is(err, fs.ErrNotExist) {
			// An unencrypted block of an earlier crisisbus: the server encrypts it as it opens it.
			return b, nil
		}
		if err != nil {
			return nil, fmt.Errorf("block key: %w", err)
		}
		seed, nonce, err := c.openSealed(fmt.Sprintf("%s:%d", stream, index), ekey)
		if err != nil {
			b.damage = append(b.damage, BlockDamage{Stream: stream, File: b.file, End: len(b.plain),
				Problem: fmt.Sprintf("its key file %s cannot be opened with the store key (%v)", keyFile, err)})
			b.plain = nil
			return b, nil
		}
		if err := blockXOR(seed, nonce, b.plain); err != nil {
			return nil, err
		}
	}
	if len(b.plain) >= 4 && bytes.HasPrefix(b.plain, []byte("cmp")) && b.plain[3] == 1 {
		b.skipped = "compressed (crisisbus does not compress its streams)"
		b.plain = nil
	}
	return b, nil
}

// parseRecord checks the record at off: its length fields against the bytes
// there, then its hash. It returns the record, or what is wrong with it.
func parseRecord(buf []byte, off int, hh highwayhashDigest) (record, string) {
	r, problem, _ := parseRecordShort(buf, off, hh)
	return r, problem
}

// parseRecordShort is parseRecord, also saying whether the file ends inside
// the record (as a write cut short leaves it).
func parseRecordShort(buf []byte, off int, hh highwayhashDigest) (record, string, bool) {
	le := binary.LittleEndian
	left := len(buf) - off
	if left < recHdrSize {
		return record{}, fmt.Sprintf("the file ends %d bytes into a message's header", left), true
	}
	hdr := buf[off : off+recHdrSize]
	rl := le.Uint32(hdr[0:])
	hasHeaders := rl&recHdrBit != 0
	rl &^= recHdrBit
	slen := int(le.Uint16(hdr[20:]))
	shlen := slen
	if hasHeaders {
		shlen += 4
	}
	switch {
	case rl > maxRecordLen:
		return record{}, fmt.Sprintf("a message's length field reads %d bytes, more than any message the server writes", rl), false
	case int(rl) > left:
		return record{}, fmt.Sprintf("a message's length field reads %d bytes, past the end of the file (%d bytes left)", rl, left), true
	case rl < recEmptyLen || shlen > int(rl)-recEmptyLen:
		return record{}, fmt.Sprintf("a message's length fields are impossible (length %d, subject length %d)", rl, slen), false
	}
	data := buf[off+recHdrSize : off+int(rl)]
	dlen := len(data)
	body := data[slen : dlen-recHashSize]
	if hasHeaders {
		hlen := int(le.Uint32(data[slen:]))
		if hlen > dlen-recHashSize-slen-4 {
			return record{}, fmt.Sprintf("a message's headers length field reads %d bytes, more than the message holds", hlen), false
		}
		body = data[slen+4 : dlen-recHashSize]
	}
	hh.Reset()
	hh.Write(hdr[4:20])
	hh.Write(data[:slen])
	hh.Write(body)
	var sum [recHashSize]byte
	if !bytes.Equal(hh.Sum(sum[:0]), data[dlen-recHashSize:]) {
		return record{}, "a message's checksum does not match its contents (bytes were changed on disk)", false
	}
	seq := le.Uint64(hdr[4:])
	return record{off: off, len: int(rl), seq: seq &^ (recErasedBit | recTombBit), ts: int64(le.Uint64(hdr[12:])),
		erased: seq&recErasedBit != 0 || seq == 0, tomb: seq&recTombBit != 0}, "", false
}

// plausibleAt is the cheap test before a hash, when looking past damage for
// the next intact record: a length that fits and a sequence not beyond a
// billion after the last one known.
func plausibleAt(buf []byte, off int, lastSeq uint64) bool {
	if len(buf)-off < recEmptyLen {
		return false
	}
	le := binary.LittleEndian
	rl := le.Uint32(buf[off:]) &^ recHdrBit
	seq := le.Uint64(buf[off+4:]) &^ (recErasedBit | recTombBit)
	return rl >= recEmptyLen && int(rl) <= len(buf)-off && seq > 0 && seq <= lastSeq+1e9 && int(le.Uint16(buf[off+20:])) <= int(rl)-recEmptyLen
}

// scan reads a block's records; after damage it looks for the next intact
// record, so what follows the damage is kept.
func (b *blockScan) scan(stream string, lastSeq uint64) {
	hh := blockHasher(stream, b.index)
	buf := b.plain
	for off := 0; off < len(buf); {
		r, problem, short := parseRecordShort(buf, off, hh)
		if problem == "" {
			b.records = append(b.records, r)
			if !r.tomb && r.seq > lastSeq {
				lastSeq = r.seq
			}
			off += r.len
			continue
		}
		end := len(buf)
		for next := off + 1; next < len(buf); next++ {
			if !plausibleAt(buf, next, lastSeq) {
				continue
			}
			if r, p := parseRecord(buf, next, hh); p == "" && (r.tomb || r.seq > lastSeq) {
				end = next
				break
			}
		}
		b.damage = append(b.damage, BlockDamage{Stream: stream, File: b.file, Offset: off, End: end, Problem: problem, short: short})
		off = end
	}
}

// summarise notes what the block holds and, when it is intact, lets go of
// its contents: the check holds one block at a time.
func (b *blockScan) summarise() {
	for _, r := range b.records {
		switch {
		case r.tomb:
			b.tombs = append(b.tombs, r.seq)
			continue
		case !r.erased:
			b.live++
		}
		if b.first == 0 {
			b.first = r.seq
		}
		b.last = max(b.last, r.seq)
	}
	if len(b.damage) == 0 {
		b.plain, b.records = nil, nil
	}
}

// streamScan is what a stream's blocks hold.
type streamScan struct {
	name, dir string
	crypto    storeCrypto
	encrypted bool
	blocks    []*blockScan
	stateLast uint64 // the last sequence index.db records, 0 if unknown
	damage    []BlockDamage
	tornTail  string // a partial record at the end of the last block, which the server drops
}

// blockIndexes lists the block files of a stream's msgs directory in order.
func blockIndexes(msgsDir string) ([]uint32, error) {
	ents, err := os.ReadDir(msgsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var idx []uint32
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".blk")
		if !ok {
			continue
		}
		i, err := strconv.ParseUint(n, 10, 32)
		if err != nil {
			continue
		}
		idx = append(idx, uint32(i))
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	return idx, nil
}

// scanStream checks every block of the stream in dir.
func scanStream(dir, account, key string) (*streamScan, error) {
	s := &streamScan{name: filepath.Base(dir), dir: dir, crypto: storeCrypto{key: key, account: account}}
	if ekey, err := os.ReadFile(filepath.Join(dir, "meta.key")); err == nil && key != "" {
		if _, _, err := s.crypto.openSealed(s.name, ekey); err != nil {
			// Another key: not damage, and the server, unable to open
			// the stream, says so (checkStoreOpened).
			return s, nil
		}
		s.encrypted = true
		s.stateLast = s.readStateLast()
	}
	msgs := filepath.Join(dir, "msgs")
	idx, err := blockIndexes(msgs)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", s.name, err)
	}
	var last uint64
	for _, i := range idx {
		b, err := s.crypto.readBlock(s.name, msgs, i, s.encrypted)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", s.name, err)
		}
		b.scan(s.name, last)
		b.summarise()
		last = max(last, b.last)
		s.blocks = append(s.blocks, b)
	}
	s.account()
	return s, nil
}

// account works out, for each damaged stretch, the sequences it held, and
// lets pass a torn last record of the last block (a write the crash cut
// short, never acknowledged: the server drops it as it opens the block).
func (s *streamScan) account() {
	var prev uint64
	for bi, b := range s.blocks {
		for di := range b.damage {
			d := &b.damage[di]
			before := prev
			for _, r := range b.records {
				if r.off < d.Offset && !r.tomb && r.seq > before {
					before = r.seq
				}
			}
			after := uint64(0)
			for _, r := range b.records {
				if r.off >= d.End && !r.tomb {
					after = r.seq
					break
				}
			}
			for _, nb := range s.blocks[bi+1:] {
				if after == 0 {
					after = nb.first
				}
			}
			lastBlock := bi == len(s.blocks)-1
			if after == 0 && s.stateLast != 0 {
				after = max(s.stateLast, before) + 1
			}
			// Nothing after it, and the stream's state knows no message after it.
			if lastBlock && d.short && d.End == b.size && (after == 0 || after == before+1) {
				s.tornTail = fmt.Sprintf("%s: %s, at byte %d", b.file, d.Problem, d.Offset)
				b.damage = b.damage[:di]
				break
			}
			if after == 0 {
				d.LostUnknownAfter, d.unknown = before, true
			}
			for q := before + 1; q < after; q++ {
				d.Lost = append(d.Lost, q)
			}
		}
		prev = max(prev, b.last)
		s.damage = append(s.damage, b.damage...)
	}
}

// readStateLast reads the last sequence from the stream's state file
// (index.db), 0 when it cannot: a valid hash (HighwayHash-64 keyed by
// SHA-256 of the stream name), then AES-GCM under the stream's key (sealed in
// meta.key), then magic, version and varints of which the fifth is the last
// sequence.
func (s *streamScan) readStateLast() uint64 {
	ekey, err := os.ReadFile(filepath.Join(s.dir, "meta.key"))
	if err != nil {
		return 0
	}
	seed, _, err := s.crypto.openSealed(s.name, ekey)
	if err != nil {
		return 0
	}
	aek, err := gcm16(seed)
	if err != nil {
		return 0
	}
	buf, err := os.ReadFile(filepath.Join(s.dir, "msgs", "index.db"))
	if err != nil || len(buf) < aek.NonceSize()+aek.Overhead()+recHashSize {
		return 0
	}
	key := sha256.Sum256([]byte(s.name))
	hh, _ := highwayhash.New64(key[:])
	body := buf[:len(buf)-recHashSize]
	hh.Write(body)
	if !bytes.Equal(hh.Sum(nil), buf[len(buf)-recHashSize:]) {
		return 0
	}
	ns := aek.NonceSize()
	plain, err := aek.Open(nil, body[:ns], body[ns:], nil)
	if err != nil || len(plain) < 2 || plain[0] != 11 {
		return 0
	}
	r := bytes.NewReader(plain[2:])
	var v uint64
	for i := 0; i < 5; i++ { // msgs, bytes, first seq, first time, last seq
		if i == 3 {
			_, err = binary.ReadVarint(r)
		} else {
			v, err = binary.ReadUvarint(r)
		}
		if err != nil {
			return 0
		}
	}
	return v
}

// streamDirs lists the stream directories of a store with their accounts.
func streamDirs(storeDir string) (dirs, accounts []string) {
	metas, _ := filepath.Glob(filepath.Join(storeDir, "jetstream", "*", "streams", "*"))
	sort.Strings(metas)
	for _, dir := range metas {
		if strings.HasPrefix(filepath.Base(dir), ".") {
			continue // a stream being deleted
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		dirs = append(dirs, dir)
		accounts = append(accounts, filepath.Base(filepath.Dir(filepath.Dir(dir))))
	}
	return dirs, accounts
}

// scanStore checks every stream of the store in storeDir under key.
func scanStore(storeDir, key string) ([]*streamScan, error) {
	dirs, accounts := streamDirs(storeDir)
	var out []*streamScan
	for i, dir := range dirs {
		s, err := scanStream(dir, accounts[i], key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// unsyncedBucket says whether stream is the stream of an Unsynced bucket
// (rights.Bucket): rebuilt from the event stream, and written without
// waiting for the disk, so a stop without warning may leave it damaged.
func unsyncedBucket(stream string) bool {
	for _, b := range rights.Buckets() {
		if b.Unsynced && stream == "KV_"+b.Name {
			return true
		}
	}
	return false
}

// dropDamage cuts each damaged block of the stream at its first damage
// (a block damaged from its start is removed, with its key) and removes
// the stream's state file, so that the server counts what is left from the
// blocks. Only for an Unsynced bucket: what is dropped is rebuilt by its
// owner, never an acknowledged fact.
func (s *streamScan) dropDamage() error {
	for _, b := range s.blocks {
		if len(b.damage) == 0 {
			continue
		}
		at := b.damage[0].Offset
		for _, d := range b.damage[1:] {
			at = min(at, d.Offset)
		}
		if at == 0 {
			if err := os.Remove(b.file); err != nil {
				return err
			}
			if err := os.Remove(strings.TrimSuffix(b.file, ".blk") + ".key"); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		if err := os.Truncate(b.file, int64(at)); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(s.dir, "msgs", "index.db")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// checkStore refuses a store with a damaged message block, before the
// server opens it; the damaged part of an Unsynced bucket is dropped.
func checkStore(cfg Config, key string) error {
	streams, err := scanStore(StoreDir(cfg.DataDir), key)
	if err != nil {
		return fmt.Errorf("check the event store: %w", err)
	}
	var damage []BlockDamage
	for _, s := range streams {
		if unsyncedBucket(s.name) && len(s.damage) > 0 {
			if err := s.dropDamage(); err != nil {
				return fmt.Errorf("drop the damaged part of stream %s: %w", s.name, err)
			}
			for _, d := range s.damage {
				cfg.Log.Warn("a bucket written without waiting for the disk was cut short by a stop without warning; dropped its damaged part (the record rebuilds it from the event stream)",
					zap.String("stream", s.name), zap.String("file", d.File), zap.Int("at_byte", d.Offset), zap.String("problem", d.Problem))
			}
			continue
		}
		damage = append(damage, s.damage...)
		if s.tornTail != "" && unsyncedBucket(s.name) {
			cfg.Log.Warn("the last write to a bucket written without waiting for the disk was cut short by a stop in mid-write; the server drops it (the record rebuilds it from the event stream)",
				zap.String("stream", s.name), zap.String("where", s.tornTail))
		} else if s.tornTail != "" {
			cfg.Log.Warn("the last message of a stream was cut short by a stop in mid-write; the server drops it (it was never acknowledged)",
				zap.String("stream", s.name), zap.String("where", s.tornTail))
		}
	}
	if len(damage) > 0 {
		return &DamagedStoreError{DataDir: cfg.DataDir, Damage: damage}
	}
	return nil
}
