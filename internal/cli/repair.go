package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/services/record"
)

func init() {
	commands["repair"] = command{"keep every intact event of a damaged embedded store in a new one (crisisbus stopped)", cmdRepair}
}

func cmdRepair(ctx context.Context, e env, args []string) error {
	o, err := parseOfflineStore(e, "repair", "file holding the store's key", args)
	if err != nil {
		return err
	}
	data, storeKey, log := &o.data, &o.storeKey, o.log
	r, err := broker.RepairStore(ctx, *data, *storeKey, log)
	if err != nil {
		return err
	}
	if len(r.Streams) == 0 {
		fmt.Fprintf(e.stdout, "no damaged message block in %s: nothing to repair, nothing changed\n", broker.StoreDir(*data))
		return nil
	}
	for _, s := range r.Streams {
		fmt.Fprintf(e.stdout, "stream %s: kept %d messages; lost sequences %s (damaged in %s)\n", s.Stream, s.Kept, s.LostWords(), strings.Join(s.Blocks, ", "))
	}
	// The record's views were built from every event, the lost ones too:
	// rebuilt, they show what the stream holds.
	b, err := broker.Start(ctx, broker.Config{DataDir: *data, StoreKey: *storeKey, Port: -1, Log: log})
	if err != nil {
		return fmt.Errorf("the store is repaired, but did not start to rebuild the record: %w", err)
	}
	defer b.Shutdown()
	nc, err := b.Connect("")
	if err != nil {
		return err
	}
	defer nc.Close()
	bus, err := natsbus.NewBus(nc, "", log)
	if err != nil {
		return err
	}
	if err := record.Rebuild(ctx, bus.JetStream()); err != nil {
		return fmt.Errorf("the store is repaired; rebuild the record: %w", err)
	}
	fmt.Fprintln(e.stdout, "the record rebuilds from the kept events when crisisbus next starts; lost sequences read as deleted and are never reused")
	fmt.Fprintf(e.stdout, "kept until you delete it: the damaged store %s\n", r.OldStore)
	fmt.Fprintf(e.stdout, "once `crisisbus up --data %s` runs and shows your episodes: rm -r %s\n", *data, r.OldStore)
	return nil
}
