package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// The store's start mark. An Unsynced bucket (the record's views) is
// acknowledged before it is on disk, so when the store stops or fails in a
// write (a disk that ran out, a stop without warning) the newest views may
// be gone while the facts they folded are in the stream. Each time the
// store starts (the server, or JetStream again in the running server: see
// checkSpace) the broker writes a new value under rights.StoreStartedKey in
// the views bucket; the record, seeing it change, checks every fact since
// its checkpoint against its views (services/record, catchup.go).

// markRetry is the wait between attempts to write the mark (a store still
// full refuses it until it takes writes again).
const markRetry = time.Second

// markStoreStarted writes a new start mark: once at once, then, if that
// failed, again every markRetry until it is written or the broker stops. A
// store with no views bucket yet has nothing to mark.
func (b *Broker) markStoreStarted() {
	mark := uuid.NewString()
	err := b.writeMark(mark)
	if err == nil || errors.Is(err, jetstream.ErrBucketNotFound) {
		return
	}
	b.cfg.Log.Warn("could not yet mark the store as started for the record; trying again until it is written",
		zap.String("cause", err.Error()), zap.Duration("retry_every", markRetry))
	b.marking.Add(1)
	go func() {
		defer b.marking.Done()
		for {
			select {
			case <-b.space.stop:
				return
			case <-time.After(markRetry):
			}
			switch err := b.writeMark(mark); {
			case err == nil:
				b.cfg.Log.Info("marked the store as started for the record")
				return
			case errors.Is(err, jetstream.ErrBucketNotFound):
				return
			}
		}
	}()
}

func (b *Broker) writeMark(mark string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, err := b.Connect("")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	kv, err := rights.OpenBucket(ctx, js, rights.EpisodesBucket)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, rights.StoreStartedKey, []byte(mark)); err != nil {
		return fmt.Errorf("write the store's start mark: %w", err)
	}
	return nil
}
