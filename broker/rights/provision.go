package rights

import (
	"context"
	"fmt"

	"github.com/crisisbus/crisisbus/events/natsbus"

	"github.com/nats-io/nats.go/jetstream"
)

// Provision creates or updates the streams and every identity's key-value
// buckets and object stores. Only the admin user may: no service creates
// or changes a stream or a bucket, it opens what the admin provisioned.
func Provision(ctx context.Context, js jetstream.JetStream, cfg natsbus.StreamConfig) error {
	if err := natsbus.Provision(ctx, js, cfg); err != nil {
		return err
	}
	replicas := max(cfg.Replicas, 1)
	for _, b := range Buckets() {
		if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b.Name, Description: b.Description,
			TTL: b.TTL, History: 1, Storage: jetstream.FileStorage, Replicas: replicas}); err != nil {
			return fmt.Errorf("provision bucket %s: %w", b.Name, err)
		}
	}
	for _, o := range Objects() {
		if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: o.Name, Description: o.Description,
			Storage: jetstream.FileStorage, Replicas: replicas}); err != nil {
			return fmt.Errorf("provision object store %s: %w", o.Name, err)
		}
	}
	return nil
}

// OpenBucket opens a provisioned bucket, or says who must provision it.
// The bucket refuses a key longer than events.MaxKeyLen before it reaches
// the server (see guardedBucket).
func OpenBucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("bucket %s (provisioned by the admin user: `crisisbus up`, or `crisisbus serve` with the admin's credentials): %w", name, err)
	}
	return guardedBucket{kv}, nil
}
