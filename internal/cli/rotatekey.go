package cli

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker"
)

func init() {
	commands["rotate-key"] = command{"re-encrypt the embedded store under a new key (crisisbus stopped)", cmdRotateKey}
}

// offlineStore is what a tool that works on the embedded store while
// crisisbus is stopped (rotate-key, repair) is given: the data directory,
// the store's key file and a log.
type offlineStore struct {
	data, storeKey string
	log            *zap.Logger
}

// parseOfflineStore reads an offline store tool's flags; keyHelp says what
// the tool does with the key file.
func parseOfflineStore(e env, name, keyHelp string, args []string) (offlineStore, error) {
	fs := newFlags(e, name, "[flags]   (with crisisbus up stopped)")
	data := fs.String("data", "data", "data directory of the embedded server")
	storeKey := fs.String("store-key", os.Getenv(broker.StoreKeyEnv), keyHelp+" (default $"+broker.StoreKeyEnv+", else DATA.key)")
	level := fs.String("log-level", "warn", "log level: debug, info, warn, error")
	if err := parse(fs, args); err != nil {
		return offlineStore{}, err
	}
	if len(fs.Args()) > 0 {
		return offlineStore{}, usageError{fmt.Sprintf("unexpected arguments %v", fs.Args())}
	}
	log, err := newLogger(e.stderr, *level, "console")
	if err != nil {
		return offlineStore{}, err
	}
	return offlineStore{data: *data, storeKey: *storeKey, log: log}, nil
}

func cmdRotateKey(ctx context.Context, e env, args []string) error {
	o, err := parseOfflineStore(e, "rotate-key", "file holding the current key; it receives the new one", args)
	if err != nil {
		return err
	}
	r, err := broker.RotateStoreKey(ctx, o.data, o.storeKey, o.log)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "re-encrypted %d streams (%d messages, %d consumers with their positions) under a new key in %s\n", r.Streams, r.Messages, r.Consumers, r.KeyFile)
	fmt.Fprintf(e.stdout, "kept until you delete them: the previous key %s and the store under it %s\n", r.OldKey, r.OldStore)
	fmt.Fprintf(e.stdout, "once `crisisbus up --data %s` runs and shows your episodes: rm -r %s %s\n", o.data, r.OldStore, r.OldKey)
	return nil
}
