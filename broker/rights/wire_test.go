package rights_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/record"
)

func startSystem(t *testing.T) (context.Context, *system.System) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	sys, err := system.Start(ctx, system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	return ctx, sys
}

// A request's reply subject is the caller's to choose, and the server lets
// a service publish its one answer wherever that is: a service answers only
// to a caller's inbox, so no agency can have the record write its answer
// into the record's own buckets or anywhere else the record may publish.
func TestAServiceAnswersOnlyToAnInbox(t *testing.T) {
	ctx, sys := startSystem(t)
	police := dial(t, sys, string(events.Police))
	victim := events.NewEpisodeID()
	body, err := json.Marshal(record.WorklistRequest{Viewer: "an integrator", Purpose: "direct care"})
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]string{
		rights.EpisodesBucket:    victim,
		rights.DisclosuresBucket: victim,
		rights.PeopleBucket:      victim,
	}
	for bucket, key := range targets {
		m := &nats.Msg{Subject: record.WorklistSubject(events.Police), Reply: "$KV." + bucket + "." + key, Data: body}
		if err := police.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	// The same request from the caller's own inbox is answered: the record
	// has handled the ones before it.
	if _, err := police.nc.Request(record.WorklistSubject(events.Police), body, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	admin := dial(t, sys, rights.Admin)
	js, err := jetstream.New(admin.nc)
	if err != nil {
		t.Fatal(err)
	}
	for bucket, key := range targets {
		kv, err := js.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("police had the record write its answer into %s under %s: %v %s", bucket, key, err, entry(e))
		}
	}
}

func entry(e jetstream.KeyValueEntry) string {
	if e == nil {
		return ""
	}
	return string(e.Value())
}
