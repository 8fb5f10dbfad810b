package broker

import (
	"cmp"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// The store's space. Left to itself, nats-server lets its store use three
// quarters of what the disk has free when JetStream starts (and of what the
// store holds), fixed until the next start: after a restart on a disk with
// little room the store could hold more than its share and refuse every
// write, and room freed later would go unused. So the broker lets the store
// use the whole disk and guards the disk itself:
//
//   - When less than a twentieth of the disk is free (minFree), it restarts
//     JetStream in the running server with the store's share set to what
//     it holds: publishes are then refused at once with "insufficient
//     resources", not left to fail in a write.
//   - When other files take the last of the disk between two checks and a
//     write fails ("no space left on device"), the server answers no more
//     publishes on that stream until JetStream restarts: the broker
//     restarts it, stopped where it is, in the same way.
//   - Once the disk has room again (twice minFree), it restarts JetStream
//     with the whole disk to use again.
//
// The broker checks the disk every SpaceCheckEvery. While the store is full
// it says so, in words, in the log and through StoreStatus (the console
// shows a banner). A restart keeps the server's configuration and store key
// and reopens the streams; clients stay connected and their durable
// consumers carry on where they were.

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
	// capped: JetStream was restarted with its share set to what the store
	// held, because the disk was full or nearly full.
	capped     bool
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
		}
	}
	st := StoreStatus{Used: used, Limit: limit, Free: free}
	restart, capAt := "", int64(0)
	switch {
	case !enabled || sp.writeFailed.Load():
		st.Full = true
		st.Message = fmt.Sprintf("the disk holding the store (%s) ran out of space (%s free); new facts are refused. "+
			"Free space on that disk: crisisbus takes writes again by itself once %s are free, with no restart",
			storeDir, mb(free), mb(minFree(total)))
		switch {
		case free >= minFree(total):
			restart = fmt.Sprintf("the disk holding the store has room again (%s free)", mb(free))
		case enabled:
			// Other files took the last of the disk between two checks and a
			// write failed: the stream that failed answers no publish until
			// JetStream restarts, so each would wait out its timeout. Stop
			// the store where it is, so that publishes are refused at once.
			restart, capAt = fmt.Sprintf("a write failed: the disk holding the store is full (%s free): the store takes no new facts", mb(free)), max(used, 1)
		}
	case sp.capped:
		st.Full = true
		st.Message = fmt.Sprintf("the disk holding the store (%s) is full or nearly full (%s free): new facts are refused at once, so that none fails in a write. "+
			"Free space on that disk: crisisbus takes writes again by itself once %s are free, with no restart", storeDir, mb(free), mb(2*minFree(total)))
		if free >= 2*minFree(total) {
			restart = fmt.Sprintf("the disk holding the store has room again (%s free)", mb(free))
		}
	case free < minFree(total):
		// The store uses more of the disk than it counts (indexes, keys,
		// the record's buckets): stop it where it is, so that publishes are
		// refused at once with "insufficient resources" rather than fail
		// in a write.
		restart, capAt = fmt.Sprintf("the disk holding the store is nearly full (%s free): the store takes no new facts, before a write fails", mb(free)), max(used, 1)
	case limit > 0 && total > limit+growStep(limit):
		// The disk was grown while crisisbus ran.
		restart = fmt.Sprintf("the disk holding the store has grown to %s: the store may use it", mb(total))
	}
	if restart != "" && time.Since(sp.lastRestart) >= minRestartGap {
		sp.lastRestart = time.Now()
		if err := b.restartJetStream(capAt); err != nil {
			b.cfg.Log.Error("could not restart JetStream; will try again", zap.String("why", restart), zap.Error(err))
		} else {
			b.cfg.Log.Warn("JetStream restarted in the running server: "+restart, zap.String("store", storeDir))
			b.markStoreStarted()
			sp.writeFailed.Store(false)
			sp.capped = capAt > 0
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
// (the server reads the key from its options), and the whole disk to use,
// or capAt bytes if that is not 0; in the store's account, whose exports to
// the identities' account stay (accounts.go).
func (b *Broker) restartJetStream(capAt int64) error {
	if b.srv.JetStreamEnabled() {
		if err := b.srv.ShutdownJetStream(); err != nil {
			return fmt.Errorf("stop JetStream: %w", err)
		}
	}
	if err := b.srv.EnableJetStream(&server.JetStreamConfig{
		StoreDir:     b.opts.StoreDir,
		SyncAlways:   b.opts.SyncAlways,
		SyncInterval: b.opts.SyncInterval,
		MaxMemory:    b.opts.JetStreamMaxMemory,
		MaxStore:     cmp.Or(capAt, wholeDisk(b.opts.StoreDir)),
		Strict:       !b.opts.NoJetStreamStrict,
	}); err != nil {
		return err
	}
	return enableStore(b.srv)
}

// wholeDisk is the size of the disk holding dir, the store's share of it
// while the broker guards the disk (0 when it cannot be read: the server's
// own default).
func wholeDisk(dir string) int64 {
	_, total, _ := diskSpace(dir)
	return total
}

// minFree is how much of a disk must be free before JetStream is started
// again after the disk ran out: a twentieth of it, between 1 MiB and 1 GiB.
func minFree(total int64) int64 { return min(max(total/20, 1<<20), 1<<30) }

// growStep is how much a disk must grow for a restart to be worth it.
func growStep(limit int64) int64 { return max(limit/20, 1<<20) }

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
