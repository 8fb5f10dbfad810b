package record_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/record"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// The views bucket is written without waiting for the disk, so the server
// stopping without warning (the machine losing power) can take its newest
// views while the stream and the record's consumer keep the facts they
// hold acknowledged. Here the police detain a man under s136 and the AMHP
// service takes the assessment on and completes it; then the server comes
// back with its views bucket as it was before the AMHP's facts (the
// bucket's directory put back as it was then), under a record that kept
// running. The record, finding itself on a server started since, checks
// every fact since its checkpoint and the AMHP's facts are in the view
// again.
func TestTheRecordRestoresTheViewsAServerLostWhenItStopped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	police := bustest.Bus(t, b, events.Police)
	amhp := bustest.Bus(t, b, events.AMHP)
	rec := bustest.Bus(t, b, events.Record)
	admin := bustest.Bus(t, b, "")
	core, logs := observer.New(zap.InfoLevel)
	r, err := record.Start(ctx, record.Config{Bus: rec, Log: zap.New(core), CatchUpEvery: 50 * time.Millisecond, CheckpointLag: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	views, err := admin.JetStream().Stream(ctx, "KV_"+rights.EpisodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	if mode := views.CachedInfo().Config.PersistMode; mode != jetstream.AsyncPersistMode {
		t.Fatalf("the views bucket is persisted %s, want Async on a single node", mode)
	}

	ep := events.NewEpisodeID()
	facts := night(t, ep)
	publish := func(es []events.Event) {
		t.Helper()
		for _, e := range es {
			bus := police
			if e.Source == events.AMHP {
				bus = amhp
			}
			if _, err := bus.Publish(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	holds := func(n int) func() error {
		return func() error {
			v, _, _, err := r.Store().Get(ctx, ep)
			if err != nil {
				return err
			}
			if len(v.Timeline) != n {
				return fmt.Errorf("the view holds %d facts, want %d", len(v.Timeline), n)
			}
			return nil
		}
	}
	police5 := facts[:5] // opened … the handoff offered to the AMHP service
	publish(police5)
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, holds(len(police5)))
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		ent, err := admin.JetStream().KeyValue(ctx, rights.EpisodesBucket)
		if err != nil {
			return err
		}
		cp, err := ent.Get(ctx, record.CheckpointKey)
		if err != nil {
			return err
		}
		if string(cp.Value()) != strconv.Itoa(len(police5)) {
			return fmt.Errorf("checkpoint %s, want %d", cp.Value(), len(police5))
		}
		return nil
	})

	// The server stops; its views bucket is copied as it is now.
	b.Shutdown()
	bucket := bucketDir(t, dir, "KV_"+rights.EpisodesBucket)
	before := filepath.Join(t.TempDir(), "views-before")
	if err := os.CopyFS(before, os.DirFS(bucket)); err != nil {
		t.Fatal(err)
	}
	b = bustest.StartAgain(t, b)
	toldRestarted(t, logs, 1)

	// The AMHP service accepts and completes the assessment.
	publish(facts[5:])
	bustest.CheckFor(t, 20*time.Second, 10*time.Millisecond, holds(len(facts)))

	// The server stops without its newest views: the bucket as it was.
	b.Shutdown()
	if err := os.RemoveAll(bucket); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(bucket, os.DirFS(before)); err != nil {
		t.Fatal(err)
	}
	bustest.StartAgain(t, b)
	toldRestarted(t, logs, 2)

	want, _, err := record.Load(ctx, admin, ep)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	bustest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		v, _, _, err := r.Store().Get(ctx, ep)
		if err != nil {
			return err
		}
		if got, _ := json.Marshal(v); string(got) != string(wantJSON) {
			return fmt.Errorf("the record's view holds %d of the episode's %d facts", len(v.Timeline), len(want.Timeline))
		}
		return nil
	})
	// Each agency's worklist, which the record keeps from the views as
	// they are written, is what the views now hold: the assessment,
	// completed, waits for nobody.
	scan, err := record.OpenStore(ctx, admin.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []events.Agency{events.Police, events.AMHP} {
		bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			kept, err := r.Store().Worklist(ctx, a)
			if err != nil {
				return err
			}
			read, err := scan.Worklist(ctx, a)
			if err != nil {
				return err
			}
			k, _ := json.Marshal(kept)
			w, _ := json.Marshal(read)
			if string(k) != string(w) {
				return fmt.Errorf("the %s worklist the record keeps is\n%s\nthe views read now give\n%s", a, k, w)
			}
			return nil
		})
	}

	// The operator is told the record restored the AMHP's facts.
	restored := logs.FilterMessage("the record had missed a fact; rebuilt the episode's view from the stream").All()
	if len(restored) == 0 {
		t.Fatalf("the record restored no fact: the test did not take the newest views")
	}
	if ev := restored[0].ContextMap()["type"]; ev != facts[5].Type {
		t.Errorf("the first fact restored is %v, want the AMHP's %s", ev, facts[5].Type)
	}
}

// toldRestarted waits until the record has told the operator n times that
// the store started again: it checks every CatchUpEvery, so it notices a
// restart once the server is back, not at the instant.
func toldRestarted(t *testing.T, logs *observer.ObservedLogs, n int) {
	t.Helper()
	bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := logs.FilterMessageSnippet("the store started again, or this is another server").Len(); got < n {
			return fmt.Errorf("the record said %d times the store had started again, want %d", got, n)
		}
		return nil
	})
}

// bucketDir finds a stream's directory in the server's store.
func bucketDir(t *testing.T, dir, stream string) string {
	t.Helper()
	var found string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == stream && filepath.Base(filepath.Dir(path)) == "streams" {
			found = path
			return filepath.SkipAll
		}
		return err
	})
	if err != nil || found == "" {
		t.Fatalf("no directory of stream %s under %s (%v)", stream, dir, err)
	}
	return found
}
