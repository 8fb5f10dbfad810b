package rights

import (
	"context"
	"errors"
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
		if err := provisionBucket(ctx, js, b, replicas); err != nil {
			return err
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

// ProvisionBucket creates or updates one identity's bucket of the table,
// as Provision does (a bucket lost under its running service is made again
// so). Only the admin user may.
func ProvisionBucket(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	for _, b := range Buckets() {
		if b.Name == name {
			return provisionBucket(ctx, js, b, max(replicas, 1))
		}
	}
	return fmt.Errorf("provision bucket %s: no identity owns a bucket of that name", name)
}

func provisionBucket(ctx context.Context, js jetstream.JetStream, b Bucket, replicas int) error {
	kv := jetstream.KeyValueConfig{Bucket: b.Name, Description: b.Description,
		TTL: b.TTL, History: 1, Storage: jetstream.FileStorage, Replicas: replicas}
	var err error
	if b.Unsynced && replicas == 1 {
		err = provisionUnsynced(ctx, js, kv)
	} else {
		_, err = js.CreateOrUpdateKeyValue(ctx, kv)
	}
	if err != nil {
		return fmt.Errorf("provision bucket %s: %w", b.Name, err)
	}
	return nil
}

// provisionUnsynced creates or updates an Unsynced bucket. A stream's
// persist mode is fixed when the stream is made, and nats.go's
// KeyValueConfig has none: a new bucket is made as nats.go makes it, then
// made again, still empty, with async persistence. A bucket an earlier
// crisisbus made synced stays synced (changing it would mean emptying it);
// it works the same, only slower.
func provisionUnsynced(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValueConfig) error {
	name := "KV_" + kv.Bucket
	st, err := js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateKeyValue(ctx, kv); err != nil {
			return err
		}
		if st, err = js.Stream(ctx, name); err != nil {
			return err
		}
		info := st.CachedInfo()
		if info.State.Msgs > 0 {
			return nil // written to already: left synced
		}
		cfg := info.Config
		cfg.PersistMode = jetstream.AsyncPersistMode
		if err := js.DeleteStream(ctx, name); err != nil {
			return fmt.Errorf("remake the new bucket unsynced: %w", err)
		}
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			return fmt.Errorf("remake the new bucket unsynced: %w", err)
		}
		return nil
	case err != nil:
		return err
	case st.CachedInfo().Config.PersistMode == jetstream.AsyncPersistMode:
		cfg := st.CachedInfo().Config
		cfg.Description, cfg.MaxAge = kv.Description, kv.TTL
		_, err := js.UpdateStream(ctx, cfg)
		return err
	default:
		_, err := js.CreateOrUpdateKeyValue(ctx, kv)
		return err
	}
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
