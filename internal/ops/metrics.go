// Package ops is how the people who run crisisbus see it working: the
// Prometheus metrics (their one registry and every definition), the health
// endpoints /healthz and /readyz, and the listener serving them.
//
// The Prometheus client and exposition format are used because every
// Prometheus scrape, Grafana and most monitoring systems read them as they
// are. Every count is kept here; elsewhere a service calls one function at
// the one place the thing happens (rpc.Endpoint answers every command, the
// record applies every event, the clock publishes every warning and breach,
// the console serves every page). Labels are never personal data, never an
// episode id: only agencies, commands, kinds, codes and consumer names, all
// from fixed lists.
package ops

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// Metric names, as the alert rules and the dashboard in deploy/ use them.
const (
	CommandsTotal          = "crisisbus_commands_total"
	CommandSeconds         = "crisisbus_command_duration_seconds"
	HandoffsTotal          = "crisisbus_handoffs_total"
	HandoffAckSeconds      = "crisisbus_handoff_time_to_acknowledge_seconds"
	HandoffAcceptSeconds   = "crisisbus_handoff_time_to_accept_seconds"
	ClockWarningsTotal     = "crisisbus_clock_warnings_total"
	ClockBreachesTotal     = "crisisbus_clock_breaches_total"
	ClockRepeatsTotal      = "crisisbus_clock_breach_repeats_total"
	ClocksLive             = "crisisbus_clocks_live"
	DisclosuresTotal       = "crisisbus_disclosures_total"
	ConsoleRequestsTotal   = "crisisbus_console_requests_total"
	ConsoleSigninsTotal    = "crisisbus_console_signins_total"
	ConsoleRefusalsTotal   = "crisisbus_console_signin_refusals_total"
	ConsoleLiveConnections = "crisisbus_console_live_connections"
	ConsumerPending        = "crisisbus_consumer_pending"
	ConsumerAckPending     = "crisisbus_consumer_ack_pending"
	ConsumerRedelivered    = "crisisbus_consumer_redelivered"
	DeadLetters            = "crisisbus_dead_letters"
	ServiceReady           = "crisisbus_service_ready"
	StoreBytes             = "crisisbus_store_bytes"
	StoreLimitBytes        = "crisisbus_store_limit_bytes"
	StoreDiskFreeBytes     = "crisisbus_store_disk_free_bytes"
	StoreFull              = "crisisbus_store_full"
)

// Handoff steps, the step label of HandoffsTotal.
const (
	Offered      = "offered"
	Acknowledged = "acknowledged"
	Accepted     = "accepted"
	Declined     = "declined"
	Cancelled    = "cancelled"
)

// Buckets of the handoff histograms: a handoff is answered in minutes to
// hours (the clocks escalate an unanswered one after tens of minutes).
var handoffBuckets = []float64{10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400}

var (
	commands = prometheus.NewCounterVec(prometheus.CounterOpts{Name: CommandsTotal,
		Help: "Commands and queries answered, by agency (the service's own, from its subject crisisbus.<agency>.…), command (endpoint name) and outcome (ok, or the refusal code: 400 bad input, 403 forbidden by law, 404 unknown, 409 the episode's state forbids it, 500 fault, 503 store unavailable)."},
		[]string{"agency", "command", "outcome"})
	commandSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: CommandSeconds,
		Help:    "Time to answer a command or query, by agency and command.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
		[]string{"agency", "command"})
	handoffs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: HandoffsTotal,
		Help: "Handoff steps the episode record applied, by kind, agency (the one offered the episode), step (offered, acknowledged, accepted, declined, cancelled) and, for declined, the reason."},
		[]string{"kind", "agency", "step", "reason"})
	handoffAck = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: HandoffAckSeconds,
		Help: "Time from a handoff's offer to its acknowledgement (by the facts' own times), by kind and agency offered.", Buckets: handoffBuckets},
		[]string{"kind", "agency"})
	handoffAccept = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: HandoffAcceptSeconds,
		Help: "Time from a handoff's offer to its acceptance (by the facts' own times), by kind and agency offered.", Buckets: handoffBuckets},
		[]string{"kind", "agency"})
	clockWarnings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ClockWarningsTotal,
		Help: "Clock warnings the clock service published (a legal or handoff clock close to breaking), by clock."}, []string{"clock"})
	clockBreaches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ClockBreachesTotal,
		Help: "Clock breaches the clock service published (repeats included, until the clock is answered), by clock."}, []string{"clock"})
	clockRepeats = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ClockRepeatsTotal,
		Help: "Clock breaches published again because the breach was still unanswered at its repeat time, by clock."}, []string{"clock"})
	disclosures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: DisclosuresTotal,
		Help: "Reads of an agency's view of the episode record (each recorded as a disclosure), by the agency whose view was read."}, []string{"agency"})
	consoleRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ConsoleRequestsTotal,
		Help: "Requests the console answered, by method and HTTP status code."}, []string{"method", "code"})
	consoleSignins = prometheus.NewCounter(prometheus.CounterOpts{Name: ConsoleSigninsTotal,
		Help: "People signed in to the console."})
	consoleRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: ConsoleRefusalsTotal,
		Help: "Sign-ins the console refused, by HTTP status code (403 expired form, 422 wrong or missing username or password, 429 too many failures, 503 the bus was not reachable or the console was too busy checking passwords)."}, []string{"code"})
	consoleLive = prometheus.NewGauge(prometheus.GaugeOpts{Name: ConsoleLiveConnections,
		Help: "Console pages open now with live updates (server-sent event streams)."})
	clocksLive = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: ClocksLive,
		Help: "Clocks the clock service is keeping now (running or with a breach unanswered)."}, func() float64 {
		liveMu.Lock()
		defer liveMu.Unlock()
		if liveFn == nil {
			return 0
		}
		return float64(liveFn())
	})

	liveMu sync.Mutex
	liveFn func() int
)

// counted are the metrics kept as things happen, registered with every
// Server's registry.
var counted = []prometheus.Collector{commands, commandSeconds, handoffs, handoffAck, handoffAccept,
	clockWarnings, clockBreaches, clockRepeats, clocksLive, disclosures, consoleRequests, consoleSignins, consoleRefusals, consoleLive}

// Names lists the name of every metric crisisbus exposes (what the alert
// rules and the dashboard may use), with the series a histogram adds.
func Names() []string {
	reg := NewRegistry(nil)
	ch := make(chan *prometheus.Desc, 64)
	go func() { reg.describe(ch); close(ch) }()
	var out []string
	for d := range ch {
		s := d.String()
		_, rest, _ := strings.Cut(s, `fqName: "`)
		name, _, _ := strings.Cut(rest, `"`)
		out = append(out, name)
	}
	for _, h := range []string{CommandSeconds, HandoffAckSeconds, HandoffAcceptSeconds} {
		out = append(out, h+"_bucket", h+"_sum", h+"_count")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Commands wraps a command's handler (rpc.Endpoint's, for every endpoint
// of every service) so each answer is counted with its outcome and time.
func Commands(name string, h micro.Handler) micro.Handler {
	return micro.HandlerFunc(func(r micro.Request) {
		agency := "unknown"
		if parts := strings.Split(r.Subject(), "."); len(parts) > 2 && parts[0] == "crisisbus" {
			agency = parts[1]
		}
		cr := &countedRequest{Request: r, outcome: "ok"}
		start := time.Now()
		defer func() {
			commandSeconds.WithLabelValues(agency, name).Observe(time.Since(start).Seconds())
			commands.WithLabelValues(agency, name, cr.outcome).Inc()
		}()
		h.Handle(cr)
	})
}

// countedRequest notes the code a handler refuses with.
type countedRequest struct {
	micro.Request
	outcome string
}

func (c *countedRequest) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	if _, err := strconv.Atoi(code); err == nil {
		c.outcome = code
	} else {
		c.outcome = "500"
	}
	return c.Request.Error(code, description, data, opts...)
}

// ViewGetter reads an episode's view as the record holds it (record.Store.Get).
type ViewGetter func(ctx context.Context, id string) (episode.View, uint64, bool, error)

var (
	typeOffered      = episode.TypeOf(&events.HandoffOffered{})
	typeAcknowledged = episode.TypeOf(&events.HandoffAcknowledged{})
	typeAccepted     = episode.TypeOf(&events.HandoffAccepted{})
	typeDeclined     = episode.TypeOf(&events.HandoffDeclined{})
	typeCancelled    = episode.TypeOf(&events.HandoffCancelled{})
	typeDisclosed    = episode.TypeOf(&events.RecordDisclosed{})
)

// declineReasons are the reasons of the contract (schemas/v1); any other
// is counted as "other", so a label never carries free text.
var declineReasons = []string{"not_appropriate", "no_capacity", "reassign", "more_information_needed", "other"}

// RecordApplied counts what an event the episode record has just applied
// means for the people waiting on it: a handoff's step (its kind and the
// agency offered it, read from the view it is now part of, and how long
// the offer waited) or a disclosure. It is called once per event the
// record's consumer handles.
func RecordApplied(ctx context.Context, e events.Event, get ViewGetter) {
	step := ""
	switch e.Type {
	case typeDisclosed:
		var d events.RecordDisclosed
		if json.Unmarshal(e.Data, &d) == nil && slices.Contains(events.Agencies, d.Agency) {
			disclosures.WithLabelValues(string(d.Agency)).Inc()
		}
		return
	case typeOffered:
		step = Offered
	case typeAcknowledged:
		step = Acknowledged
	case typeAccepted:
		step = Accepted
	case typeDeclined:
		step = Declined
	case typeCancelled:
		step = Cancelled
	default:
		return
	}
	var ids struct {
		HandoffID string `json:"handoffId"`
	}
	if json.Unmarshal(e.Data, &ids) != nil {
		return
	}
	v, _, ok, err := get(ctx, e.Subject)
	if err != nil || !ok {
		return
	}
	h := v.Handoff(ids.HandoffID)
	if h == nil {
		return
	}
	kind, to := string(h.Kind), string(h.To)
	reason := ""
	if step == Declined {
		reason = "other"
		if slices.Contains(declineReasons, h.DeclineReason) {
			reason = h.DeclineReason
		}
	}
	handoffs.WithLabelValues(kind, to, step, reason).Inc()
	waited := e.Time.Sub(h.OfferedAt).Seconds()
	if h.OfferedAt.IsZero() || waited < 0 {
		return
	}
	switch step {
	case Acknowledged:
		handoffAck.WithLabelValues(kind, to).Observe(waited)
	case Accepted:
		handoffAccept.WithLabelValues(kind, to).Observe(waited)
	}
}

// ClockFired counts a warning (breach nil) or a breach the clock service
// published, and a breach published again because nobody answered it; a
// publish the stream dropped as a duplicate (a restart publishing again
// what it had published) is not counted.
func ClockFired(clock events.ClockKind, breach *events.ClockBreached, duplicate bool) {
	if duplicate {
		return
	}
	if breach != nil {
		clockBreaches.WithLabelValues(string(clock)).Inc()
		if breach.Repeat > 0 {
			clockRepeats.WithLabelValues(string(clock)).Inc()
		}
		return
	}
	clockWarnings.WithLabelValues(string(clock)).Inc()
}

// KeepingClocks tells the metrics how many clocks the running clock service
// keeps (clock.Service.Live); the latest started clock service is counted.
func KeepingClocks(live func() int) {
	liveMu.Lock()
	liveFn = live
	liveMu.Unlock()
}
