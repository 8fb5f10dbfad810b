package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/clock"
)

func init() {
	commands["status"] = command{"what runs, each consumer's lag, breaches open now, dead letters, the store and its disk; exit 1 when something needs a person", cmdStatus}
}

// statusReport is what `crisisbus status` found, and what needs a person.
type statusReport struct {
	w       io.Writer
	needs   []string
	missing map[string]bool // streams (by stream name) that crisisbus provisions and are not there
}

func (r *statusReport) line(f string, a ...any) { fmt.Fprintf(r.w, f+"\n", a...) }
func (r *statusReport) need(f string, a ...any) {
	s := fmt.Sprintf(f, a...)
	r.needs = append(r.needs, s)
}

// cmdStatus looks at a running crisisbus, read-only, as the admin user:
// it changes nothing and makes no durable consumer.
func cmdStatus(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "status", "[flags]")
	var cf connFlags
	cf.register(fs)
	maxLag := fs.Int("max-lag", 1000, "a consumer with more events than this still to handle needs a person")
	minFree := fs.Float64("min-free", 10, "the store's disk with less than this percentage free needs a person")
	wait := fs.Duration("wait", 500*time.Millisecond, "how long to wait for services to answer the discovery ping")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *maxLag < 0 || *minFree < 0 || *minFree > 100 || *wait <= 0 {
		return usageError{"--max-lag must be 0 or more, --min-free a percentage from 0 to 100, --wait positive"}
	}
	nc, err := cf.connect("")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r := &statusReport{w: e.stdout, missing: map[string]bool{}}
	r.line("crisisbus status at %s (%s)", time.Now().UTC().Format("2006-01-02 15:04:05Z"), nc.ConnectedUrlRedacted())
	steps := []func() error{
		func() error { return r.provisioned(ctx, js) },
		func() error { return r.services(nc, *wait) },
		func() error { return r.consumers(ctx, js, uint64(*maxLag)) },
		func() error { return r.breaches(ctx, js) },
		func() error { return r.deadLetters(ctx, js) },
		func() error { return r.store(ctx, js, cf.data, *minFree) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			r.need("%v", err)
		}
	}
	if len(r.needs) == 0 {
		r.line("\nAll well: nothing needs a person.")
		return nil
	}
	r.line("\nNEEDS A PERSON (%d):", len(r.needs))
	for _, n := range r.needs {
		r.line("  - %s", n)
	}
	return fmt.Errorf("%d thing(s) need a person (see above)", len(r.needs))
}

// provisioned checks that every stream, bucket and object store crisisbus
// provisions is there: one deleted under a running system (with a NATS
// tool) leaves a service unable to keep what it held.
func (r *statusReport) provisioned(ctx context.Context, js jetstream.JetStream) error {
	type store struct{ kind, name, stream, holds string }
	all := []store{
		{"stream", natsbus.Stream, natsbus.Stream, "every crisis episode event, the source of truth"},
		{"stream", natsbus.DeadLetterStream, natsbus.DeadLetterStream, "the messages consumers could not handle"},
	}
	for _, b := range rights.Buckets() {
		all = append(all, store{"bucket", b.Name, "KV_" + b.Name, b.Description})
	}
	for _, o := range rights.Objects() {
		all = append(all, store{"object store", o.Name, "OBJ_" + o.Name, o.Description})
	}
	for _, st := range all {
		_, err := js.Stream(ctx, st.stream)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			r.missing[st.stream] = true
			r.need("the %s %s is missing (it holds %s): was it deleted? crisisbus makes it again when `crisisbus up` starts "+
				"(or `crisisbus serve` with the admin user); what it held is gone unless restored from a backup", st.kind, st.name, st.holds)
		case err != nil:
			return fmt.Errorf("the %s %s cannot be read: %w", st.kind, st.name, err)
		}
	}
	return nil
}

// services pings each micro service the rights table says crisisbus runs,
// by name ($SRV.PING.<name>), and counts the instances that answer. Only a
// service's own identity may listen on its name's ping (broker/rights), and
// each ping has a reply subject of its own: any service may answer the
// ping of every service ($SRV.PING), and would be counted as whatever it
// named itself.
func (r *statusReport) services(nc *nats.Conn, wait time.Duration) error {
	var want []string
	for _, id := range rights.Table() {
		want = append(want, id.Services...)
	}
	subs := make(map[string]*nats.Subscription, len(want))
	for _, name := range want {
		inbox := nc.NewRespInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			return fmt.Errorf("services: %w", err)
		}
		defer sub.Unsubscribe()
		if err := nc.PublishRequest("$SRV.PING."+name, inbox, nil); err != nil {
			return fmt.Errorf("services: ping %s: %w", name, err)
		}
		subs[name] = sub
	}
	found := map[string]int{}
	deadline := time.Now().Add(wait)
	for _, name := range want {
		for {
			m, err := subs[name].NextMsg(max(time.Until(deadline), time.Millisecond))
			if err != nil {
				break
			}
			var ping micro.Ping
			if json.Unmarshal(m.Data, &ping) == nil && ping.Name == name {
				found[name]++
			}
		}
	}
	r.line("\nServices (answering the discovery ping):")
	for _, name := range want {
		if found[name] > 0 {
			r.line("  %-22s %d instance(s)", name, found[name])
			continue
		}
		r.line("  %-22s NOT RUNNING", name)
		serve := strings.TrimPrefix(name, "crisisbus-")
		if serve == "record" {
			serve = "episode-record"
		}
		r.need("service %s does not answer: start it (crisisbus up, or crisisbus serve %s) and look at its log", name, serve)
	}
	return nil
}

// consumers lists every durable consumer on the event stream with its lag
// and redeliveries, from one listing of the stream's consumers.
func (r *statusReport) consumers(ctx context.Context, js jetstream.JetStream, maxLag uint64) error {
	if r.missing[natsbus.Stream] {
		r.line("\nConsumers of %s: none (the stream is missing)", natsbus.Stream)
		return nil
	}
	st, err := js.Stream(ctx, natsbus.Stream)
	if err != nil {
		return fmt.Errorf("the event stream %s cannot be read: %w", natsbus.Stream, err)
	}
	infos := map[string]*jetstream.ConsumerInfo{}
	list := st.ListConsumers(ctx)
	for info := range list.Info() {
		if info.Config.Durable != "" {
			infos[info.Name] = info
		}
	}
	if err := list.Err(); err != nil {
		return fmt.Errorf("consumers of %s: %w", natsbus.Stream, err)
	}
	r.line("\nConsumers of %s (pending: still to handle; unacknowledged; redelivered; reading now: a service's pull requests waiting):", natsbus.Stream)
	var want []string
	for _, id := range rights.Table() {
		for _, d := range id.Durables {
			want = append(want, d.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(infos)) {
		c := infos[name]
		r.line("  %-22s pending %d, unacknowledged %d, redelivered %d, reading now %d", name, c.NumPending, c.NumAckPending, c.NumRedelivered, c.NumWaiting)
		if c.NumPending > maxLag {
			r.need("consumer %s is %d events behind (more than %d): is its service running and keeping up? (its log says)", name, c.NumPending, maxLag)
		}
		if c.NumRedelivered > 0 {
			r.need("consumer %s has %d event(s) redelivered and not yet handled: its handler is failing on them (its log says why)", name, c.NumRedelivered)
		}
	}
	for _, name := range want {
		if infos[name] == nil {
			r.line("  %-22s MISSING", name)
			r.need("consumer %s does not exist: its service has never started against this NATS", name)
		}
	}
	return nil
}

// breaches lists the clocks breached and not yet answered, from the clock
// bucket's latest values (one ordered read, no durable consumer).
func (r *statusReport) breaches(ctx context.Context, js jetstream.JetStream) error {
	if r.missing["KV_"+rights.ClocksBucket] {
		r.line("\nBreaches open now: unknown (the clocks bucket %s is missing)", rights.ClocksBucket)
		return nil
	}
	kv, err := js.KeyValue(ctx, rights.ClocksBucket)
	if err != nil {
		return fmt.Errorf("the clocks bucket %s cannot be read: %w", rights.ClocksBucket, err)
	}
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("the clocks bucket %s cannot be read: %w", rights.ClocksBucket, err)
	}
	defer w.Stop()
	var open []clock.Clock
	var rebuild *clock.RebuildRecord
	for ent := range w.Updates() {
		if ent == nil {
			break // every key's latest value has been read
		}
		if ent.Key() == clock.RebuildMark {
			rebuild = &clock.RebuildRecord{}
			_ = json.Unmarshal(ent.Value(), rebuild)
			continue
		}
		var c clock.Clock
		if json.Unmarshal(ent.Value(), &c) == nil && c.Breaches > 0 && c.StoppedAt.IsZero() {
			open = append(open, c)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("the clocks bucket %s: %w", rights.ClocksBucket, ctx.Err())
	}
	r.line("\nBreaches open now: %d", len(open))
	slices.SortFunc(open, func(a, b clock.Clock) int { return a.DueAt.Compare(b.DueAt) })
	for _, c := range open {
		r.line("  %-16s episode %s  owner %-10s due %s (%s over), escalated %d time(s)", c.Kind, c.Episode, c.Owner,
			c.DueAt.UTC().Format("2006-01-02 15:04Z"), time.Since(c.DueAt).Round(time.Minute), c.Breaches)
	}
	if len(open) > 0 {
		r.need("%d clock breach(es) unanswered: the owning agency must act on each episode above", len(open))
	}
	if rebuild != nil {
		r.line("  the clocks are being rebuilt from the event stream, since %s (%s): until that ends no warning or breach is published",
			rebuild.Began.UTC().Format("2006-01-02 15:04:05Z"), rebuild.Why)
		r.need("a rebuild of the clocks has not finished: if the clock service runs, it is rebuilding (its log says when it is done); if it does not, start it and it rebuilds them again")
	}
	return nil
}

// deadLetters counts the dead-letter stream by consumer.
func (r *statusReport) deadLetters(ctx context.Context, js jetstream.JetStream) error {
	if r.missing[natsbus.DeadLetterStream] {
		r.line("\nDead letters: unknown (the stream %s is missing)", natsbus.DeadLetterStream)
		return nil
	}
	dead, err := system.DeadLetters(ctx, js)
	if err != nil {
		return err
	}
	var total uint64
	for _, n := range dead {
		total += n
	}
	r.line("\nDead letters: %d", total)
	for _, c := range slices.Sorted(maps.Keys(dead)) {
		r.line("  %-22s %d", c, dead[c])
	}
	if total > 0 {
		r.need("%d dead letter(s): facts a consumer could not handle; read them with `crisisbus deadletter list` and put right what they say", total)
	}
	return nil
}

// store reports what the JetStream account holds and, where the data
// directory is on this machine, the disk's free space.
func (r *statusReport) store(ctx context.Context, js jetstream.JetStream, data string, minFree float64) error {
	info, err := js.AccountInfo(ctx)
	if err != nil {
		return fmt.Errorf("the store cannot be read: %w", err)
	}
	r.line("\nStore: %s in %d stream(s)", mbytes(int64(info.Store)), info.Streams)
	if lim := info.Limits.MaxStore; lim > 0 {
		r.line("  limit: %s (%.0f%% used)", mbytes(lim), 100*float64(info.Store)/float64(lim))
		if float64(info.Store) > 0.9*float64(lim) {
			r.need("the store holds %s of the %s it may use: give it more room", mbytes(int64(info.Store)), mbytes(lim))
		}
	}
	dir := filepath.Join(data, "jetstream")
	if _, err := os.Stat(dir); err != nil {
		r.line("  disk: not on this machine (no %s); look at the NATS servers' disks", dir)
		return nil
	}
	free, total, ok := broker.DiskSpace(dir)
	if !ok || total <= 0 {
		r.line("  disk: free space unknown on this system")
		return nil
	}
	pct := 100 * float64(free) / float64(total)
	r.line("  disk holding %s: %s free of %s (%.1f%%)", dir, mbytes(free), mbytes(total), pct)
	if pct < minFree {
		r.need("the disk holding the store has %.1f%% free (less than %.0f%%): free space on it before the store fills and new facts are refused", pct, minFree)
	}
	return nil
}

func mbytes(n int64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
