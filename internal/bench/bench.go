// Package bench measures crisisbus's publish and consume path against raw
// JetStream on the same embedded server in the same run, so the ratio says
// what validation, the envelope and idempotent handling cost.
package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// Config sets the size of a run.
type Config struct {
	LatencyMessages    int // published one at a time, each waiting for its ack (default 2000)
	ThroughputMessages int // published pipelined (default 20000)
	// Rounds is how many times each path is measured (default 3): for
	// latency the paths take turns message by message, for throughput
	// they take turns to go first, so that a machine or disk busy with
	// other work for a while weighs on both alike; each figure is the
	// median of its rounds.
	Rounds int
	// Only, when set ("raw JetStream" or "crisisbus"), measures that path
	// alone: a CPU profile then shows one path's work, and a profile of
	// each, compared, shows what crisisbus adds.
	Only string
}

// Result is one path's figures.
type Result struct {
	Name       string
	P50, P99   time.Duration // publish start → delivered to the consumer's handler
	Throughput float64       // messages per second, first publish → last delivered
	// CPU is the process's CPU time (server and clients) per message of
	// the throughput run: unlike the times, it does not grow when other
	// work shares the machine.
	CPU    time.Duration
	Rounds int // how many runs the figures are the median of
}

// Run starts an embedded server in dir and measures raw JetStream, then crisisbus.
func Run(ctx context.Context, dir string, cfg Config, progress io.Writer) ([]Result, error) {
	if cfg.LatencyMessages == 0 {
		cfg.LatencyMessages = 2000
	}
	if cfg.ThroughputMessages == 0 {
		cfg.ThroughputMessages = 20000
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 3
	}
	b, err := broker.Start(ctx, broker.Config{DataDir: dir, Port: -1})
	if err != nil {
		return nil, err
	}
	defer b.Shutdown()
	nc, err := b.Connect(events.Police)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	adminNC, err := b.Connect("")
	if err != nil {
		return nil, err
	}
	defer adminNC.Close()
	admin, _ := natsbus.NewBus(adminNC, "", nil)
	if err := rights.Provision(ctx, admin.JetStream(), natsbus.StreamConfig{}); err != nil {
		return nil, err
	}
	bus, err := natsbus.NewBus(nc, events.Police, nil)
	if err != nil {
		return nil, err
	}
	rnc, err := b.Connect(events.Record)
	if err != nil {
		return nil, err
	}
	defer rnc.Close()
	reader, err := natsbus.NewBus(rnc, events.Record, nil)
	if err != nil {
		return nil, err
	}
	paths := []path{rawPath{bus.JetStream(), reader.JetStream()}, busPath{bus, reader}}
	if cfg.Only != "" {
		i := slices.IndexFunc(paths, func(p path) bool { return p.name() == cfg.Only })
		if i < 0 {
			return nil, fmt.Errorf("no path %q: want %q or %q", cfg.Only, paths[0].name(), paths[1].name())
		}
		paths = paths[i : i+1]
	}
	rounds := make([][]Result, len(paths))
	for round := range cfg.Rounds {
		fmt.Fprintf(progress, "round %d of %d: %d messages one at a time on each path, the paths taking turns message by message…\n",
			round+1, cfg.Rounds, cfg.LatencyMessages)
		lats, err := latencies(ctx, paths, cfg.LatencyMessages, round)
		if err != nil {
			return nil, err
		}
		for k := range paths {
			i := (k + round) % len(paths) // each round, the other path first
			p := paths[i]
			fmt.Fprintf(progress, "round %d of %d, %s: %d messages pipelined…\n", round+1, cfg.Rounds, p.name(), cfg.ThroughputMessages)
			r, err := throughput(ctx, p, cfg.ThroughputMessages)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name(), err)
			}
			lat := lats[i]
			r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
			rounds[i] = append(rounds[i], r)
		}
	}
	out := make([]Result, len(paths))
	for i, rs := range rounds {
		out[i] = median(rs)
	}
	return out, nil
}

// median is each figure's median over the rounds.
func median(rs []Result) Result {
	mid := func(f func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Result{Name: rs[0].Name, Rounds: len(rs),
		P50:        time.Duration(mid(func(r Result) float64 { return float64(r.P50) })),
		P99:        time.Duration(mid(func(r Result) float64 { return float64(r.P99) })),
		Throughput: mid(func(r Result) float64 { return r.Throughput }),
		CPU:        time.Duration(mid(func(r Result) float64 { return float64(r.CPU) })),
	}
}

// path is one way of publishing and consuming.
type path interface {
	name() string
	publish(ctx context.Context, e events.Event, raw []byte) error
	publishAsync(ctx context.Context, es []events.Event, raws [][]byte) error
	consume(ctx context.Context, durable, filter string, delivered func(id string)) (stop func(), err error)
}

// Both paths publish as the police and consume as the episode record,
// each connected as its own user with its own rights, as in a real run.
type rawPath struct{ js, reader jetstream.JetStream }

func (rawPath) name() string { return "raw JetStream" }

func rawMsg(e events.Event, raw []byte) *nats.Msg {
	subj, _ := events.Subject(e)
	m := nats.NewMsg(subj)
	m.Data = raw
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	return m
}

func (r rawPath) publish(ctx context.Context, e events.Event, raw []byte) error {
	_, err := r.js.PublishMsg(ctx, rawMsg(e, raw))
	return err
}

func (r rawPath) publishAsync(ctx context.Context, es []events.Event, raws [][]byte) error {
	for i := range es {
		if _, err := r.js.PublishMsgAsync(rawMsg(es[i], raws[i]), jetstream.WithStallWait(time.Minute)); err != nil {
			return err
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r rawPath) consume(ctx context.Context, durable, filter string, delivered func(string)) (func(), error) {
	c, err := r.reader.CreateOrUpdateConsumer(ctx, natsbus.Stream, jetstream.ConsumerConfig{
		Durable: durable, FilterSubject: filter, AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return nil, err
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		delivered(m.Headers().Get(jetstream.MsgIDHeader))
		_ = m.Ack()
	})
	if err != nil {
		return nil, err
	}
	return cc.Stop, nil
}

type busPath struct{ bus, reader *natsbus.Bus }

func (busPath) name() string { return "crisisbus" }

func (p busPath) publish(ctx context.Context, e events.Event, _ []byte) error {
	_, err := p.bus.Publish(ctx, e)
	return err
}

func (p busPath) publishAsync(ctx context.Context, es []events.Event, _ [][]byte) error {
	for _, r := range p.bus.PublishBatch(ctx, es) {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

func (p busPath) consume(ctx context.Context, durable, filter string, delivered func(string)) (func(), error) {
	s, err := p.reader.Consume(ctx, natsbus.ConsumerConfig{Durable: durable, Filters: []string{filter}},
		func(_ context.Context, e events.Event) error { delivered(e.ID); return nil })
	if err != nil {
		return nil, err
	}
	return s.Stop, nil
}

// fixtures builds n valid detention events for one episode, and their JSON.
func fixtures(n int) (string, []events.Event, [][]byte, error) {
	ep := events.NewEpisodeID()
	es := make([]events.Event, n)
	raws := make([][]byte, n)
	for i := range es {
		e, err := events.New(events.Police, ep, &events.S136Detained{
			DetainedAt: time.Now().UTC(), LocationType: "public_place", AgeYears: 30, Consulted: true})
		if err != nil {
			return "", nil, nil, err
		}
		raw, err := events.Encode(e)
		if err != nil {
			return "", nil, nil, err
		}
		es[i], raws[i] = e, raw
	}
	return ep, es, raws, nil
}

// latencies publishes n messages on each path one at a time, each waiting
// until the consumer's handler has it before the next is published, the
// paths taking turns message by message (the other first each time), so
// that a disk slower for a while weighs on both alike. It returns each
// path's latencies, sorted.
func latencies(ctx context.Context, paths []path, n, round int) ([][]time.Duration, error) {
	type run struct {
		es   []events.Event
		raws [][]byte
		got  chan string
		lat  []time.Duration
		stop func()
	}
	runs := make([]*run, len(paths))
	defer func() {
		for _, r := range runs {
			if r != nil && r.stop != nil {
				r.stop()
			}
		}
	}()
	for i, p := range paths {
		ep, es, raws, err := fixtures(n)
		if err != nil {
			return nil, err
		}
		r := &run{es: es, raws: raws, got: make(chan string, n), lat: make([]time.Duration, 0, n)}
		runs[i] = r
		if r.stop, err = p.consume(ctx, "bench-lat-"+ep[:8], events.EpisodeSubjects(ep), func(id string) {
			select {
			case r.got <- id:
			default: // a delivery again, past the n awaited
			}
		}); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name(), err)
		}
	}
	for j := range n {
		for k := range paths {
			i := (k + j + round) % len(paths)
			r, e := runs[i], runs[i].es[j]
			start := time.Now()
			if err := paths[i].publish(ctx, e, r.raws[j]); err != nil {
				return nil, fmt.Errorf("%s: %w", paths[i].name(), err)
			}
			if err := delivered(ctx, r.got, e.ID); err != nil {
				return nil, fmt.Errorf("%s: %w", paths[i].name(), err)
			}
			r.lat = append(r.lat, time.Since(start))
		}
	}
	out := make([][]time.Duration, len(paths))
	for i, r := range runs {
		slices.Sort(r.lat)
		out[i] = r.lat
	}
	return out, nil
}

// delivered waits until the handler has had the message with id.
func delivered(ctx context.Context, got <-chan string, id string) error {
	timeout := time.After(time.Minute)
	for {
		select {
		case d := <-got:
			if d == id {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("message %s not delivered within a minute", id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// throughput publishes n messages pipelined with a concurrent durable
// consumer, and measures messages a second and the process's CPU a message.
func throughput(ctx context.Context, p path, n int) (Result, error) {
	res := Result{Name: p.name()}
	ep, es, raws, err := fixtures(n)
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	var got int
	done := make(chan struct{})
	stop, err := p.consume(ctx, "bench-thr-"+ep[:8], events.EpisodeSubjects(ep), func(string) {
		mu.Lock()
		defer mu.Unlock()
		got++
		if got == len(es) {
			close(done)
		}
	})
	if err != nil {
		return res, err
	}
	defer stop()
	start, cpu := time.Now(), ProcessCPU()
	if err := p.publishAsync(ctx, es, raws); err != nil {
		return res, err
	}
	if err := wait(ctx, done); err != nil {
		return res, err
	}
	res.Throughput = float64(len(es)) / time.Since(start).Seconds()
	res.CPU = (ProcessCPU() - cpu) / time.Duration(len(es))
	return res, nil
}

func wait(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("not all messages delivered within 5 minutes")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Print writes the results as a table, with crisisbus's ratios to raw JetStream.
func Print(w io.Writer, rs []Result) {
	fmt.Fprintf(w, "\n%-14s %12s %12s %14s %12s\n", "path", "p50", "p99", "msgs/s", "CPU/msg")
	for _, r := range rs {
		fmt.Fprintf(w, "%-14s %12s %12s %14.0f %12s\n", r.Name, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Throughput, r.CPU.Round(time.Microsecond))
	}
	if len(rs) == 2 {
		raw, cb := rs[0], rs[1]
		fmt.Fprintf(w, "%-14s %11.2fx %11.2fx %13.2fx %11.2fx\n", "crisisbus/raw",
			float64(cb.P50)/float64(raw.P50), float64(cb.P99)/float64(raw.P99), cb.Throughput/raw.Throughput, float64(cb.CPU)/float64(raw.CPU))
	}
	fmt.Fprintln(w, "(latency: publish start to the consumer's handler, one message in flight, the paths taking turns message by message; throughput: pipelined publish with a concurrent durable consumer; CPU: the process's, server and clients, per message of the throughput run; every write fsynced)")
	if len(rs) > 0 && rs[0].Rounds > 1 {
		fmt.Fprintf(w, "(each figure the median of %d rounds, raw and crisisbus taking turns to go first)\n", rs[0].Rounds)
	}
}
