package rights

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
)

// guardedBucket is a provisioned bucket that refuses an over-long key before
// it reaches the server (events.CheckKey). A key is a subject token of the
// bucket's JetStream API calls: one longer than the server's protocol line
// would have the server close the caller's connection for good, so a
// console cookie or an episode id 5,000 characters long could otherwise take
// a service off the bus. The refusal wraps jetstream.ErrInvalidKey and
// events.ErrBadToken (a 400 in rpc terms).
type guardedBucket struct{ jetstream.KeyValue }

func checkKeys(keys ...string) error {
	for _, k := range keys {
		if err := events.CheckKey(k); err != nil {
			return fmt.Errorf("%w: %w", jetstream.ErrInvalidKey, err)
		}
	}
	return nil
}

func (g guardedBucket) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if err := checkKeys(key); err != nil {
		return nil, err
	}
	return g.KeyValue.Get(ctx, key)
}

func (g guardedBucket) GetRevision(ctx context.Context, key string, revision uint64) (jetstream.KeyValueEntry, error) {
	if err := checkKeys(key); err != nil {
		return nil, err
	}
	return g.KeyValue.GetRevision(ctx, key, revision)
}

func (g guardedBucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := checkKeys(key); err != nil {
		return 0, err
	}
	return g.KeyValue.Put(ctx, key, value)
}

func (g guardedBucket) PutString(ctx context.Context, key string, value string) (uint64, error) {
	if err := checkKeys(key); err != nil {
		return 0, err
	}
	return g.KeyValue.PutString(ctx, key, value)
}

func (g guardedBucket) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if err := checkKeys(key); err != nil {
		return 0, err
	}
	return g.KeyValue.Create(ctx, key, value, opts...)
}

func (g guardedBucket) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	if err := checkKeys(key); err != nil {
		return 0, err
	}
	return g.KeyValue.Update(ctx, key, value, revision)
}

func (g guardedBucket) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if err := checkKeys(key); err != nil {
		return err
	}
	return g.KeyValue.Delete(ctx, key, opts...)
}

func (g guardedBucket) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if err := checkKeys(key); err != nil {
		return err
	}
	return g.KeyValue.Purge(ctx, key, opts...)
}

func (g guardedBucket) Watch(ctx context.Context, keys string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	return g.KeyValue.Watch(ctx, keys, opts...)
}

func (g guardedBucket) WatchFiltered(ctx context.Context, keys []string, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	if err := checkKeys(keys...); err != nil {
		return nil, err
	}
	return g.KeyValue.WatchFiltered(ctx, keys, opts...)
}

func (g guardedBucket) ListKeysFiltered(ctx context.Context, filters ...string) (jetstream.KeyLister, error) {
	if err := checkKeys(filters...); err != nil {
		return nil, err
	}
	return g.KeyValue.ListKeysFiltered(ctx, filters...)
}

func (g guardedBucket) History(ctx context.Context, key string, opts ...jetstream.WatchOpt) ([]jetstream.KeyValueEntry, error) {
	if err := checkKeys(key); err != nil {
		return nil, err
	}
	return g.KeyValue.History(ctx, key, opts...)
}
