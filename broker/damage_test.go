package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// stored is an event as the stream holds it, with where its record lies in
// the block file.
type stored struct {
	id       string
	seq      uint64
	off, len int
}

// storeEpisodes opens a crisis episode for each of n people (what the SPoA
// records of their own words), and returns the events in stream order with
// the span of each one's record in the stream's first block file (the
// server's record: 22 bytes of length, sequence, time and subject length,
// the subject, 4 bytes of headers length, the headers, the message, an
// 8-byte hash).
func storeEpisodes(t *testing.T, b *broker.Broker, n int) []stored {
	t.Helper()
	admin := bustest.Bus(t, b, "")
	if err := natsbus.Provision(t.Context(), admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	spoa := bustest.Bus(t, b, events.SPoA)
	var out []stored
	for i := range n {
		ev, err := events.New(events.SPoA, events.NewEpisodeID(), &events.PersonVoiceRecorded{OwnWords: fmt.Sprintf("caller %d: I cannot keep myself safe tonight", i)})
		if err != nil {
			t.Fatal(err)
		}
		ack, err := spoa.Publish(t.Context(), ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, stored{id: ev.ID, seq: ack.Sequence})
	}
	s, err := admin.JetStream().Stream(t.Context(), natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for i := range out {
		m, err := s.GetMsg(t.Context(), out[i].seq)
		if err != nil {
			t.Fatal(err)
		}
		hdr := 0
		if len(m.Header) > 0 {
			hdr = len("NATS/1.0\r\n") + len("\r\n") + 4
			for k, vs := range m.Header {
				switch k {
				case "Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp":
					continue // added by the direct get that read it, not stored
				}
				for _, v := range vs {
					hdr += len(k) + len(": ") + len(v) + len("\r\n")
				}
			}
		}
		out[i].off, out[i].len = off, 22+len(m.Subject)+hdr+len(m.Data)+8
		off += out[i].len
	}
	return out
}

func blockFile(data string) string {
	return filepath.Join(broker.StoreDir(data), "jetstream", "$G", "streams", natsbus.Stream, "msgs", "1.blk")
}

// damage XORs the block file's bytes at off with x (the store is AES-CTR:
// a changed byte on disk is the same change to the record).
func damage(t *testing.T, file string, off int, x []byte) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		b[off+i] ^= x[i]
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storedIDs are the ids of the events the stream holds, and the sequence of a
// new event published after them.
func storedIDs(t *testing.T, b *broker.Broker) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	if _, err := bustest.Bus(t, b, "").Replay(t.Context(), events.AllSubjects(), func(e events.Event, _ uint64) error {
		ids[e.ID] = true
		return nil
	}, func(u events.Unreadable) { t.Errorf("unreadable event at sequence %d: %v", u.Seq, u) }); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return ids
}

func checkBlockSpans(t *testing.T, data string, all []stored) {
	t.Helper()
	fi, err := os.Stat(blockFile(data))
	if err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1]
	if int(fi.Size()) != last.off+last.len {
		t.Fatalf("the block file is %d bytes, the records add up to %d: the test's record sizes are wrong", fi.Size(), last.off+last.len)
	}
}

func TestADamagedEventBlockIsNamedAtStartAndRepairKeepsEveryIntactEvent(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	all := storeEpisodes(t, b, 60)
	b.Shutdown()
	checkBlockSpans(t, data, all)

	// Twenty flipped bytes in the middle of the event stream's block file.
	file := blockFile(data)
	fi, _ := os.Stat(file)
	mid := int(fi.Size()) / 2
	damage(t, file, mid, []byte(strings.Repeat("\xff", 20)))
	var lost []uint64
	lostIDs := map[string]bool{}
	for _, s := range all {
		if s.off < mid+20 && mid < s.off+s.len {
			lost = append(lost, s.seq)
			lostIDs[s.id] = true
		}
	}
	damaged, _ := os.ReadFile(file)

	took, err := startErr(t, broker.Config{DataDir: data})
	var de *broker.DamagedStoreError
	if !errors.As(err, &de) {
		t.Fatalf("start on a damaged block: %v; want the damaged store named", err)
	}
	t.Logf("start refused after %s: %v", took, err)
	for _, want := range []string{file, "is damaged", "a message's", fmt.Sprintf("holding sequences %d", lost[0]), "crisisbus repair --data " + data} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start on a damaged block says %q; want it to say %q", err, want)
		}
	}
	if !slices.Equal(de.Damage[0].Lost, lost) {
		t.Errorf("start names the lost sequences %v, want %v", de.Damage[0].Lost, lost)
	}

	r, err := broker.RepairStore(t.Context(), data, "", bustest.Logger())
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if len(r.Streams) != 1 || r.Streams[0].Stream != natsbus.Stream || !slices.Equal(r.Streams[0].Lost, lost) || r.Streams[0].Kept != uint64(len(all)-len(lost)) {
		t.Fatalf("repair did %+v; want stream %s with %d kept and %v lost", r.Streams, natsbus.Stream, len(all)-len(lost), lost)
	}
	if kept, err := os.ReadFile(strings.Replace(file, broker.StoreDir(data), r.OldStore, 1)); err != nil || string(kept) != string(damaged) {
		t.Errorf("the damaged block is not kept aside as it was in %s: %v", r.OldStore, err)
	}

	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	ids := storedIDs(t, b)
	for _, s := range all {
		if lostIDs[s.id] == ids[s.id] {
			t.Errorf("event %s (sequence %d): stored %v after the repair, lost in the damage %v", s.id, s.seq, ids[s.id], lostIDs[s.id])
		}
	}

	// The stream goes on after its last sequence: a new episode's event
	// takes a new number, and the episodes kept take new events.
	spoa := bustest.Bus(t, b, events.SPoA)
	ev, _ := events.New(events.SPoA, events.NewEpisodeID(), &events.PersonVoiceRecorded{OwnWords: "a new caller after the repair"})
	ack, err := spoa.Publish(t.Context(), ev)
	if err != nil || ack.Sequence != all[len(all)-1].seq+1 {
		t.Errorf("publish after the repair: sequence %d, %v; want %d", ack.Sequence, err, all[len(all)-1].seq+1)
	}
	if !storedIDs(t, b)[ev.ID] {
		t.Errorf("the event published after the repair is not stored")
	}
}

func TestACorruptedLengthIsRefusedWithoutAllocatingFromIt(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	all := storeEpisodes(t, b, 30)
	b.Shutdown()
	checkBlockSpans(t, data, all)

	// The length of the 11th record reads 1.8 GB.
	victim := all[10]
	var was, now [4]byte
	binary.LittleEndian.PutUint32(was[:], uint32(victim.len)|1<<31)
	binary.LittleEndian.PutUint32(now[:], 0x70000000|1<<31)
	damage(t, blockFile(data), victim.off, []byte{was[0] ^ now[0], was[1] ^ now[1], was[2] ^ now[2], was[3] ^ now[3]})

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := startErr(t, broker.Config{DataDir: data})
	runtime.ReadMemStats(&after)
	if !errors.As(err, new(*broker.DamagedStoreError)) || !strings.Contains(err.Error(), blockFile(data)) || !strings.Contains(err.Error(), "length field reads 1879048192 bytes") {
		t.Fatalf("start with a corrupted length: %v; want the block file and its length named", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
		t.Errorf("start allocated %d MB with a length of 1.8 GB in the store", grew>>20)
	}

	r, err := broker.RepairStore(t.Context(), data, "", zap.NewNop())
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	if len(r.Streams) != 1 || !slices.Equal(r.Streams[0].Lost, []uint64{victim.seq}) {
		t.Fatalf("repair did %+v; want only sequence %d lost", r.Streams, victim.seq)
	}
	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	ids := storedIDs(t, b)
	for _, s := range all {
		if ids[s.id] == (s.seq == victim.seq) {
			t.Errorf("event at sequence %d: stored %v after the repair", s.seq, ids[s.id])
		}
	}
}

func TestRepairLeavesAnIntactStoreAsItIs(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	all := storeEpisodes(t, b, 5)
	b.Shutdown()
	r, err := broker.RepairStore(context.Background(), data, "", zap.NewNop())
	if err != nil || len(r.Streams) != 0 {
		t.Fatalf("repair of an intact store: %+v, %v; want nothing done", r, err)
	}
	if _, err := os.Stat(r.OldStore); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("repair of an intact store set it aside: %v", err)
	}
	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	if ids := storedIDs(t, b); len(ids) != len(all) {
		t.Errorf("after repair of an intact store %d events, want %d", len(ids), len(all))
	}
}

// Damage to the last event of the stream: the stream's state file says how
// far the stream went, so the lost sequence is named and never reused.
func TestDamageToTheLastEventKeepsItsSequenceTaken(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	all := storeEpisodes(t, b, 12)
	b.Shutdown()
	checkBlockSpans(t, data, all)
	last := all[len(all)-1]
	damage(t, blockFile(data), last.off+last.len-40, []byte(strings.Repeat("\x5a", 20)))

	_, err := startErr(t, broker.Config{DataDir: data})
	if !errors.As(err, new(*broker.DamagedStoreError)) || !strings.Contains(err.Error(), fmt.Sprintf("holding sequences %d", last.seq)) {
		t.Fatalf("start with the last event damaged: %v; want its sequence %d named", err, last.seq)
	}
	r, err := broker.RepairStore(t.Context(), data, "", zap.NewNop())
	if err != nil || len(r.Streams) != 1 || !slices.Equal(r.Streams[0].Lost, []uint64{last.seq}) || r.Streams[0].LostUnknown {
		t.Fatalf("repair: %+v, %v; want sequence %d lost", r.Streams, err, last.seq)
	}
	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	if ids := storedIDs(t, b); len(ids) != len(all)-1 || ids[last.id] {
		t.Errorf("after the repair %d events stored (the damaged one: %v), want %d without it", len(ids), ids[last.id], len(all)-1)
	}
	ev, _ := events.New(events.SPoA, events.NewEpisodeID(), &events.PersonVoiceRecorded{OwnWords: "a new caller after the repair"})
	if ack, err := bustest.Bus(t, b, events.SPoA).Publish(t.Context(), ev); err != nil || ack.Sequence != last.seq+1 {
		t.Errorf("publish after the repair: sequence %d, %v; want %d (the lost one's number stays taken)", ack.Sequence, err, last.seq+1)
	}
}

// A crash in the middle of writing the last event leaves it cut short, and
// the stream's state file not yet updated: that is no damage (the event was
// never acknowledged; the server drops it), and crisisbus starts. The same
// cut after a clean stop, when the state file counts the event, is damage.
func TestALastEventCutShortByACrashIsNoDamage(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	all := storeEpisodes(t, b, 8)
	b.Shutdown()
	checkBlockSpans(t, data, all)
	last := all[len(all)-1]
	if err := os.Truncate(blockFile(data), int64(last.off+last.len-10)); err != nil {
		t.Fatal(err)
	}
	_, err := startErr(t, broker.Config{DataDir: data})
	if !errors.As(err, new(*broker.DamagedStoreError)) || !strings.Contains(err.Error(), fmt.Sprintf("holding sequences %d", last.seq)) {
		t.Errorf("start with an acknowledged last event cut short: %v; want it named as damage", err)
	}

	if err := os.Remove(filepath.Join(filepath.Dir(blockFile(data)), "index.db")); err != nil {
		t.Fatal(err)
	}
	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	if ids := storedIDs(t, b); len(ids) != len(all)-1 || ids[last.id] {
		t.Errorf("after a crash in mid-write %d events stored, want the %d written whole", len(ids), len(all)-1)
	}
}

// BenchmarkStartCheck measures the start's check of the store: reading,
// decrypting and hashing every block (bytes per second of store).
func BenchmarkStartCheck(b *testing.B) {
	data := filepath.Join(b.TempDir(), "data")
	ctx := context.Background()
	br, err := broker.Start(ctx, broker.Config{DataDir: data, Port: -1})
	if err != nil {
		b.Fatal(err)
	}
	admin := bustest.Bus(b, br, "")
	if err := natsbus.Provision(ctx, admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	words := strings.Repeat("I have not slept for days and the voices will not stop. ", 30)
	for range 10 {
		var evs []events.Event
		for range 500 {
			ev, _ := events.New(events.SPoA, events.NewEpisodeID(), &events.PersonVoiceRecorded{OwnWords: words})
			evs = append(evs, ev)
		}
		for _, r := range admin.PublishBatch(ctx, evs) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	br.Shutdown()
	var size int64
	filepath.WalkDir(broker.StoreDir(data), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".blk") {
			fi, _ := d.Info()
			size += fi.Size()
		}
		return nil
	})
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if err := broker.CheckStore(data); err != nil {
			b.Fatal(err)
		}
	}
}

// Damage at the end of one block, with more blocks after it: the next
// block's first sequence says what was lost.
func TestDamageAtTheEndOfABlockBeforeAnother(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	admin := bustest.Bus(t, b, "")
	if err := natsbus.Provision(t.Context(), admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	words := strings.Repeat("I have not slept for days and the voices will not stop. ", 30)
	var evs []events.Event
	for range 1500 { // about 3.5 MB: two blocks of the encrypted store's 2 MB
		ev, _ := events.New(events.SPoA, events.NewEpisodeID(), &events.PersonVoiceRecorded{OwnWords: words})
		evs = append(evs, ev)
	}
	seqOf := map[string]uint64{}
	for i, r := range admin.PublishBatch(t.Context(), evs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		seqOf[evs[i].ID] = r.Ack.Sequence
	}
	b.Shutdown()
	second := filepath.Join(filepath.Dir(blockFile(data)), "2.blk")
	if _, err := os.Stat(second); err != nil {
		t.Fatalf("the stream has one block: %v", err)
	}
	fi, _ := os.Stat(blockFile(data))
	damage(t, blockFile(data), int(fi.Size())-30, []byte(strings.Repeat("\xff", 20))) // the first block's last event

	_, err := startErr(t, broker.Config{DataDir: data})
	var de *broker.DamagedStoreError
	if !errors.As(err, &de) || len(de.Damage) != 1 || len(de.Damage[0].Lost) != 1 || de.Damage[0].File != blockFile(data) {
		t.Fatalf("start with the end of the first block damaged: %v; want one event of %s named", err, blockFile(data))
	}
	lost := de.Damage[0].Lost[0]
	r, err := broker.RepairStore(t.Context(), data, "", zap.NewNop())
	if err != nil || len(r.Streams) != 1 || !slices.Equal(r.Streams[0].Lost, []uint64{lost}) || r.Streams[0].Kept != uint64(len(evs)-1) {
		t.Fatalf("repair: %+v, %v; want sequence %d lost, %d kept", r.Streams, err, lost, len(evs)-1)
	}
	b = start(t, broker.Config{DataDir: data})
	defer b.Shutdown()
	ids := storedIDs(t, b)
	for id, seq := range seqOf {
		if ids[id] == (seq == lost) {
			t.Errorf("event at sequence %d: stored %v after the repair", seq, ids[id])
		}
	}
}

// Rotating the key of a damaged store is refused before anything is copied.
func TestRotatingTheKeyOfADamagedStoreIsRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	b := start(t, broker.Config{DataDir: data})
	storeEpisodes(t, b, 6)
	b.Shutdown()
	fi, _ := os.Stat(blockFile(data))
	damage(t, blockFile(data), int(fi.Size())/2, []byte(strings.Repeat("\xff", 20)))
	key, _ := os.ReadFile(data + ".key")
	_, err := broker.RotateStoreKey(t.Context(), data, "", zap.NewNop())
	if !errors.As(err, new(*broker.DamagedStoreError)) || !strings.Contains(err.Error(), "crisisbus repair") {
		t.Fatalf("rotate-key on a damaged store: %v; want it refused naming the repair", err)
	}
	if now, _ := os.ReadFile(data + ".key"); string(now) != string(key) {
		t.Errorf("rotate-key on a damaged store changed the key")
	}
	if _, err := os.Stat(broker.StoreDir(data) + ".before-rotation"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rotate-key on a damaged store set the store aside: %v", err)
	}
}
