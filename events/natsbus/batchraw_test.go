package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// A bulk load stores each event exactly as given and reads back the same
// bytes in the same order; each document is checked like any publish, and a
// repeated event id is stored once.
func TestPublishBatchRawStoresTheGivenBytesAndReplaysThemInOrder(t *testing.T) {
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	var docs [][]byte
	for range 200 {
		raw, err := events.Encode(detention(t, events.NewEpisodeID()))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, raw)
	}
	// Written by another system: spaced out, attributes in another order.
	spaced := bytes.Replace(docs[7], []byte(`,"type":`), []byte(` , "type" : `), 1)
	docs[7] = spaced
	notPolice := bytes.Replace(docs[9], []byte(`"source":"police"`), []byte(`"source":"amhp"`), 1)
	invalid := bytes.Replace(docs[11], []byte(`"locationType":"public_place"`), []byte(`"locationType":"private_dwelling"`), 1)
	all := append(append(append([][]byte{}, docs...), notPolice, invalid), docs[3])

	res := police.PublishBatchRaw(context.Background(), all)
	for i := range docs {
		if res[i].Err != nil || res[i].Ack.Duplicate || res[i].Ack.Sequence != uint64(i+1) {
			t.Fatalf("document %d: %+v", i, res[i])
		}
	}
	if err := res[200].Err; !errors.Is(err, events.ErrNotAuthor) {
		t.Errorf("police published an AMHP event: %v", err)
	}
	if err := res[201].Err; !errors.Is(err, events.ErrInvalid) || !strings.Contains(err.Error(), "/data/locationType") {
		t.Errorf("s136 in a private dwelling: %v", err)
	}
	if !res[202].Ack.Duplicate || res[202].Ack.Sequence != 4 {
		t.Errorf("the same event again: %+v", res[202])
	}

	var got [][]byte
	err := bustest.Bus(t, b, events.Record).ReplayRaw(context.Background(), natsbus.ReplayConfig{}, func(s natsbus.Stored) error {
		if s.Seq != uint64(len(got)+1) {
			return fmt.Errorf("sequence %d after %d events", s.Seq, len(got))
		}
		got = append(got, s.Raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(docs) {
		t.Fatalf("replayed %d events, want %d", len(got), len(docs))
	}
	for i := range docs {
		if !bytes.Equal(got[i], docs[i]) {
			t.Fatalf("event %d stored as\n%s\nwant\n%s", i, got[i], docs[i])
		}
	}
	// Replaying an empty selection returns at once.
	n := 0
	if err := bustest.Bus(t, b, events.Record).ReplayRaw(context.Background(), natsbus.ReplayConfig{Filters: []string{events.PublishedBy(events.AMHP)}}, func(natsbus.Stored) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("replay of nothing: %d events, %v", n, err)
	}
}
