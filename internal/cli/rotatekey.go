package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/crisisbus/crisisbus/broker"
)

func init() {
	commands["rotate-key"] = command{"re-encrypt the embedded store under a new key (crisisbus stopped)", cmdRotateKey}
}

func cmdRotateKey(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "rotate-key", "[flags]   (with crisisbus up stopped)")
	data := fs.String("data", "data", "data directory of the embedded server")
	storeKey := fs.String("store-key", os.Getenv(broker.StoreKeyEnv), "file holding the current key; it receives the new one (default $"+broker.StoreKeyEnv+", else DATA.key)")
	level := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %v", fs.Args())}
	}
	log, err := newLogger(e.stderr, *level)
	if err != nil {
		return err
	}
	r, err := broker.RotateStoreKey(ctx, *data, *storeKey, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "re-encrypted %d streams (%d messages, %d consumers with their positions) under a new key in %s\n", r.Streams, r.Messages, r.Consumers, r.KeyFile)
	fmt.Fprintf(e.stdout, "kept until you delete them: the previous key %s and the store under it %s\n", r.OldKey, r.OldStore)
	fmt.Fprintf(e.stdout, "once `crisisbus up --data %s` runs and shows your episodes: rm -r %s %s\n", *data, r.OldStore, r.OldKey)
	return nil
}
