package rights_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// A 5,000-character key (a console session cookie, an episode id) is
// refused by every bucket before it reaches the server, naming the limit,
// and the connection stays up: the next session is stored and read.
func TestABucketRefusesAnOverlongKeyAndTheConnectionStaysUp(t *testing.T) {
	b := bustest.Start(t, "")
	nc := bustest.Conn(t, b, events.Agency(broker.Console))
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := rights.OpenBucket(ctx, js, rights.SessionsBucket)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("A", 5000)
	_, getErr := kv.Get(ctx, long)
	_, createErr := kv.Create(ctx, long, []byte("{}"))
	_, putErr := kv.Put(ctx, long, []byte("{}"))
	_, updateErr := kv.Update(ctx, long, []byte("{}"), 1)
	_, watchErr := kv.Watch(ctx, long)
	_, listErr := kv.ListKeysFiltered(ctx, long)
	for name, err := range map[string]error{"get": getErr, "create": createErr, "put": putErr, "update": updateErr,
		"delete": kv.Delete(ctx, long), "purge": kv.Purge(ctx, long), "watch": watchErr, "list": listErr} {
		if !errors.Is(err, jetstream.ErrInvalidKey) || !errors.Is(err, events.ErrBadToken) ||
			!strings.Contains(err.Error(), "key is too long: 5000 characters, at most 256") {
			t.Errorf("%s of a 5,000-character key: %v", name, err)
		}
	}
	if !nc.IsConnected() {
		t.Fatalf("the connection is %v after the refusals", nc.Status())
	}
	if _, err := kv.Create(ctx, "session-1", []byte(`{"username":"amhp.duty"}`)); err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "session-1"); err != nil || string(e.Value()) != `{"username":"amhp.duty"}` {
		t.Fatalf("read the session back: %v", err)
	}
}
