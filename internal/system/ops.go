package system

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/ops"
)

// durables are the durable consumers each service reads the event stream
// with: a service is ready when each is present and caught up.
var durables = map[string][]string{
	recordService.Name: {rights.RecordDurable},
	auditService.Name:  {rights.AuditDurable},
	clockService.Name:  {rights.ClockDurable},
}

func durablesOf(svc Service) []string {
	if d, ok := durables[svc.Name]; ok {
		return d
	}
	if svc.Agency.Pathway() && svc.Name == string(svc.Agency) {
		return []string{rights.InboxDurable(svc.Agency)} // an agency's inbox
	}
	return nil
}

// startOps serves /metrics, /healthz and /readyz for the services of this
// System on cfg.MetricsAddr ("" or "off": none).
func (s *System) startOps(cfg Config) error {
	if cfg.MetricsAddr == "" || cfg.MetricsAddr == ops.Off {
		return nil
	}
	maxLag := cfg.MaxLag
	if maxLag <= 0 {
		maxLag = ops.DefaultMaxLag
	}
	oc := ops.Config{Addr: cfg.MetricsAddr, Log: s.log.Named("ops"), Probe: func(ctx context.Context) []ops.Probe { return s.probe(ctx, uint64(maxLag)) }}
	// The dead-letter stream is read by the admin user alone: counted where
	// this process has it (`crisisbus up`; `serve` with a credentials file
	// holding it).
	if _, ok := s.creds[broker.Admin]; ok {
		admin, err := s.Connect("")
		if err != nil {
			return err
		}
		js := admin.JetStream()
		oc.DeadLetters = func(ctx context.Context) (map[string]uint64, error) { return DeadLetters(ctx, js) }
	}
	if b := s.Broker; b != nil {
		oc.Store = func() (ops.Store, bool) {
			st := b.StoreStatus()
			return ops.Store{Used: st.Used, Limit: st.Limit, Free: st.Free, Full: st.Full}, st.Limit > 0 || st.Full
		}
	}
	var err error
	s.Ops, err = ops.Start(oc)
	return err
}

// probe looks at each service on its own connection, as its own user: the
// connection is up, its consumers (or, for the console, the event stream)
// can be read, and each consumer has at most maxLag events still to handle.
func (s *System) probe(ctx context.Context, maxLag uint64) []ops.Probe {
	s.mu.Lock()
	svs := append([]*supervisor(nil), s.services...)
	s.mu.Unlock()
	var out []ops.Probe
	for _, sv := range svs {
		p := ops.Probe{Service: sv.svc.Name}
		nc := sv.conn()
		switch {
		case nc == nil:
			p.NotReady = "not running (being started again)"
		case !nc.IsConnected():
			p.NotReady = "not connected to NATS (" + strings.ToLower(nc.Status().String()) + ")"
		}
		if p.NotReady != "" {
			out = append(out, p)
			continue
		}
		js, err := natsbus.NewJetStream(nc)
		if err != nil {
			p.NotReady = "JetStream: " + logsafe.Cause(err)
			out = append(out, p)
			continue
		}
		ds := durablesOf(sv.svc)
		if len(ds) == 0 {
			if _, err := js.Stream(ctx, natsbus.Stream); err != nil {
				p.NotReady = fmt.Sprintf("the event stream %s cannot be read: %s", natsbus.Stream, logsafe.Cause(err))
			}
		}
		for _, d := range ds {
			c, err := js.Consumer(ctx, natsbus.Stream, d)
			if err != nil {
				p.NotReady = fmt.Sprintf("its consumer %s on %s cannot be read: %s", d, natsbus.Stream, logsafe.Cause(err))
				break
			}
			info := c.CachedInfo()
			p.Consumers = append(p.Consumers, ops.Consumer{Name: d, Pending: info.NumPending,
				AckPending: uint64(info.NumAckPending), Redelivered: uint64(info.NumRedelivered)})
			if info.NumPending > maxLag {
				p.NotReady = fmt.Sprintf("its consumer %s has %d events still to handle (ready at %d or fewer)", d, info.NumPending, maxLag)
			}
		}
		out = append(out, p)
	}
	return out
}

// DeadLetters counts the dead-letter stream's messages by the consumer that
// set them aside, in one look at the stream (no consumer is made).
func DeadLetters(ctx context.Context, js jetstream.JetStream) (map[string]uint64, error) {
	st, err := js.Stream(ctx, natsbus.DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.DeadLetterRoot+".>"))
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	out := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		parts := strings.SplitN(subj, ".", 3)
		if len(parts) >= 2 {
			out[parts[1]] += n
		}
	}
	return out, nil
}
