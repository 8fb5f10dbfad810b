package broker

import (
	"cmp"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// The store's space. nats-server lets its store use three quarters of what
// the disk holds free (and of what the store already holds) when JetStream
// starts, and refuses publishes beyond that share with "insufficient
// resources": nothing is acknowledged that is not on disk. Two things then
// need a restart of the server, which the broker does without one:
//
//   - The share is fixed when JetStream starts: space the operator frees
//     later (old logs deleted, a disk grown) is not used.
//   - When the disk fills anyway (other files grew), a write fails with "no
//     space left on device" and the server stops writing to that stream for
//     good, or stops JetStream.
//
// And the store uses more of the disk than it counts (indexes, keys, the
// record's buckets), so the disk may fill before the share does. When less
// than a twentieth of the disk is free, the broker restarts JetStream with
// the share set to what the store holds: publishes are then refused at once
// with "insufficient resources", not left to fail in a write.
//
// The broker checks the disk every SpaceCheckEvery. While the store is full
// it says so, in words, in the log and through StoreStatus (the console
// shows a banner). Once the disk has room again it restarts JetStream in
// the running server, with the same configuration and store key, which
// reopens the streams and takes the new share; clients stay connected and
// their durable consumers carry on where they were.

// StoreStatus says whether the store takes new facts.
type StoreStatus struct {
	Full  bool      // new facts are refused until space is freed
	Since time.Time // when it became full
	// Message says, for the operator, what is full, where and what to do.
	Message string
	// Used is what the store holds, Limit what it may use on this disk,
	// Free what the disk has free (bytes; 0 when unknown).
	Used, Limit, Free int64
}

// StoreStatus is the store's state at the last check.
func (b *Broker) StoreStatus() StoreStatus {
	b.space.mu.Lock()
	defer b.space.mu.Unlock()
	return b.space.status
}

// StoreAlert is the sentence to show the people using crisisbus while the
// store is full, and "" while it takes new facts.
func (b *Broker) StoreAlert() string {
	if !b.StoreStatus().Full {
		return ""
	}
	return "Recording is paused: the crisisbus store is full, so new facts cannot be saved. " +
		"Everything already recorded is safe. Tell whoever runs crisisbus: the disk holding its data needs space. " +
		"Recording resumes by itself once it has room."
}

// space is the broker's watch over the store's disk.
type space struct {
	mu     sync.Mutex
	status StoreStatus
	// writeFailed is set when the server logs a write that failed for
	// lack of space: the stream it failed on takes no more writes until
	// JetStream restarts.
	writeFailed atomic.Bool
	lastRestart time.Time
	restartFree int64 // the disk's free space at start or the last restart
	// capped: JetStream was restarted with its share set to what the store
	// held, because the disk was nearly full.
	capped bool
	// counted is what JetStream last said the store holds, kept for when
	// it is stopped and cannot say.
	counted    int64
	stop, done chan struct{}
}

// noteLog is told every warning and error the server logs.
func (sp *space) noteLog(msg string) {
	if strings.Contains(msg, "no space left on device") || strings.Contains(msg, "out of space") || strings.Contains(msg, "out of resources") {
		sp.writeFailed.Store(true)
	}
}

// watch checks the store's space every interval until stop is closed.
func (b *Broker) watchSpace(every time.Duration) {
	defer close(b.space.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-b.space.stop:
			return
		case <-t.C:
			b.checkSpace()
		}
	}
}

// minRestartGap keeps the broker from restarting JetStream more often than
// this while the disk is at its edge.
const minRestartGap = 3 * time.Second

func (b *Broker) checkSpace() {
	storeDir := b.opts.StoreDir
	free, total, ok := diskSpace(storeDir)
	if !ok {
		return
	}
	sp := &b.space
	enabled := b.srv.JetStreamEnabled()
	var used, limit int64
	if enabled {
		if c := b.srv.JetStreamConfig(); c != nil {
			limit = c.MaxStore
		}
		if info, err := b.srv.Jsz(&server.JSzOptions{}); err == nil {
			used = int64(info.Store)
			sp.counted = used
		}
	}
	st := StoreStatus{Used: used, Limit: limit, Free: free}
	restart, uncap, capAt, recovering := "", false, int64(0), false
	switch {
	case !enabled || sp.writeFailed.Load():
		st.Full = true
		st.Message = fmt.Sprintf("the disk holding the store (%s) ran out of space (%s free); new facts are refused. "+
			"Free space on that disk: crisisbus takes writes again by itself once %s are free, with no restart",
			storeDir, mb(free), mb(minFree(total)))
		if free >= minFree(total) {
			restart, recovering = fmt.Sprintf("the disk holding the store has room again (%s free)", mb(free)), true
		}
	case sp.capped:
		st.Full = true
		st.Message = fmt.Sprintf("the disk holding the store (%s) is nearly full (%s free): new facts are refused before a write fails. "+
			"Free space on that disk: crisisbus takes writes again by itself once %s are free, with no restart", storeDir, mb(free), mb(2*minFree(total)))
		if free >= 2*minFree(total) {
			restart, uncap, recovering = fmt.Sprintf("the disk holding the store has room again (%s free)", mb(free)), true, true
		}
	case free < minFree(total):
		// The store's share is worked out from free space it shares with
		// other files, and it uses more of the disk than it counts: stop it
		// where it is, so that publishes are refused at once with
		// "insufficient resources" rather than fail in a write.
		restart, capAt = fmt.Sprintf("the disk holding the store is nearly full (%s free): the store takes no new facts, before a write fails", mb(free)), max(used, 1)
	default:
		// The share JetStream would take if it started now.
		share := (free + used) / 4 * 3
		// Restarting is worth it only when the store nears its share.
		if limit-used < limit/4 && share > limit+growStep(limit) && free > sp.restartFree+growStep(limit) {
			restart = fmt.Sprintf("the disk holding the store has more room (%s free): the store may grow from %s to about %s", mb(free), mb(limit), mb(share))
		}
		if limit > 0 && limit-used < fullMargin(limit) {
			st.Full = true
			st.Message = fmt.Sprintf("the store is full: it holds %s of the %s it may use on the disk holding %s (%s free); new facts are refused. "+
				"Free space on that disk: crisisbus takes writes again by itself, with no restart", mb(used), mb(limit), storeDir, mb(free))
		}
	}
	if restart != "" && time.Since(sp.lastRestart) >= minRestartGap {
		sp.lastRestart, sp.restartFree = time.Now(), free
		share := int64(0)
		if recovering {
			share = storeShare(storeDir, max(used, sp.counted))
		}
		if err := b.restartJetStream(capAt, share); err != nil {
			b.cfg.Log.Error("could not restart JetStream; will try again", zap.String("why", restart), zap.Error(err))
		} else {
			b.cfg.Log.Warn("JetStream restarted in the running server: "+restart, zap.String("store", storeDir))
			sp.writeFailed.Store(false)
			if capAt > 0 {
				sp.capped = true
			} else if uncap || !enabled {
				sp.capped = false
			}
			return // the next check reports the store as it now is
		}
	}
	b.setStatus(st)
}

// setStatus records st, logging when the store becomes full or takes new
// facts again.
func (b *Broker) setStatus(st StoreStatus) {
	sp := &b.space
	sp.mu.Lock()
	was := sp.status
	switch {
	case st.Full && !was.Full:
		st.Since = time.Now()
	case st.Full:
		st.Since = was.Since
	}
	sp.status = st
	sp.mu.Unlock()
	switch {
	case st.Full && (!was.Full || st.Message != was.Message && time.Since(was.Since) > time.Minute):
		b.cfg.Log.Error("STORE FULL: "+st.Message, zap.Int64("used_bytes", st.Used), zap.Int64("limit_bytes", st.Limit), zap.Int64("free_bytes", st.Free))
	case !st.Full && was.Full:
		b.cfg.Log.Info("the store takes new facts again", zap.Duration("was_full_for", time.Since(was.Since).Round(time.Second)),
			zap.Int64("used_bytes", st.Used), zap.Int64("limit_bytes", st.Limit), zap.Int64("free_bytes", st.Free))
	}
}

// restartJetStream stops JetStream (if it runs) and starts it again with
// the server's configuration: the same store directory, sync and store key
// (the server reads the key from its options), and a share of the disk
// worked out afresh, or capAt bytes if that is not 0.
func (b *Broker) restartJetStream(capAt, share int64) error {
	if b.srv.JetStreamEnabled() {
		if err := b.srv.ShutdownJetStream(); err != nil {
			return fmt.Errorf("stop JetStream: %w", err)
		}
	}
	// After the disk ran out (share set), left to itself the server would
	// take three quarters of the room just freed, not counting what the
	// store already holds: with more stored than that, every write would
	// be refused as "insufficient resources" for good.
	maxStore := cmp.Or(capAt, b.opts.JetStreamMaxStore, share)
	return b.srv.EnableJetStream(&server.JetStreamConfig{
		StoreDir:   b.opts.StoreDir,
		SyncAlways: b.opts.SyncAlways,
		MaxMemory:  b.opts.JetStreamMaxMemory,
		MaxStore:   maxStore,
		Strict:     !b.opts.NoJetStreamStrict,
	})
}

// storeShare is the room the store may use on its disk: what it already
// holds (as JetStream counts it, counted, or the size of its files,
// whichever is more), and three quarters of the room left (as the server
// takes at a first start). 0 when the disk cannot be read: the server's
// own default.
func storeShare(storeDir string, counted int64) int64 {
	free, _, ok := diskSpace(storeDir)
	if !ok {
		return 0
	}
	var used int64
	_ = filepath.WalkDir(storeDir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed meanwhile: count the rest
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			used += info.Size()
		}
		return nil
	})
	return max(used, counted) + free/4*3
}

// minFree is how much of a disk must be free before JetStream is started
// again after the disk ran out: a twentieth of it, between 1 MiB and 1 GiB.
func minFree(total int64) int64 { return min(max(total/20, 1<<20), 1<<30) }

// growStep is how much more room makes restarting JetStream worth it.
func growStep(limit int64) int64 { return max(limit/20, 1<<20) }

// fullMargin is how close to its share the store counts as full: closer
// than a typical handful of events and their record.
func fullMargin(limit int64) int64 { return max(limit/100, 64<<10) }

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
