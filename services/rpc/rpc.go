// Package rpc is how crisisbus services answer commands and queries: NATS
// request-reply through the `micro` framework (so every service is found by
// `nats micro ls`, with its endpoints and stats), one typed Go struct for
// each request and response, JSON on the wire, and refusals as errors with a
// code and a sentence saying what was wrong.
//
// On the wire a refusal is a reply with the headers Nats-Service-Error-Code
// (400 bad input, 403 forbidden by law, 404 unknown episode or handoff, 409
// forbidden by the episode's state, 500 a fault) and Nats-Service-Error (the
// sentence), and an empty body.
package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/denied"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/internal/tracing"
)

// Codes of a refusal.
const (
	BadRequest = 400 // the request is malformed or incomplete
	Forbidden  = 403 // the law forbids it
	NotFound   = 404 // unknown episode or handoff
	Conflict   = 409 // the episode's state forbids it
	Internal   = 500 // a fault, not the caller's mistake
	// Unavailable: the bus's store cannot take a write now (its disk is
	// full, or the server stopped its store) or a service it needs is not
	// answering; nobody's mistake, and it passes once the operator acts.
	Unavailable = 503
)

// unavailableMessage is what a caller is told when the store cannot take
// a write.
const unavailableMessage = "crisisbus cannot do this just now (its store is full or stopped, or a part of it is not answering; the people who run it are told): try again in a few minutes"

// Error is a refusal as it travels on the wire: a code and a sentence.
// rpc.Call returns one for every refusal; services refuse with the domain's
// errors (events.Refusal, events.Errorf), whose kind CodeOf maps to a code.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return e.Message }

// Temporary says whether the refusal passes by itself: a service that could
// not do it just now (Unavailable), not anything wrong with what was asked.
func (e *Error) Temporary() bool { return e.Code == Unavailable }

// codes maps each kind of domain error to its code on the wire.
var codes = map[events.Kind]int{
	events.Invalid:     BadRequest,
	events.Forbidden:   Forbidden,
	events.NotFound:    NotFound,
	events.Conflict:    Conflict,
	events.Unavailable: Unavailable,
	events.Internal:    Internal,
}

// CodeOf returns the code of err: that of the kind the domain gave it
// (events.Kinded), else that of a refusal received on the wire (*Error),
// else Unavailable when the store cannot take a write
// (natsbus.StoreUnavailable) or a server did not answer in time
// (natsbus.Unanswered), else Internal.
func CodeOf(err error) int {
	if k, ok := events.Kinded(err); ok {
		return codes[k]
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if natsbus.StoreUnavailable(err) || natsbus.Unanswered(err) {
		return Unavailable
	}
	return Internal
}

// Validator is a request that can say what is wrong with it.
type Validator interface{ Validate() error }

// Endpoint adds a typed endpoint to g, answering on the group's prefix plus
// subject. A request that does not decode (or has unknown fields), or whose
// Validate fails, is refused with BadRequest before h runs.
//
// Requests are handled side by side, at most MaxInFlight at once per
// endpoint (more wait their turn): one that waits (a view waiting for the
// event it was asked to show after, a slow disk) holds up no other.
// (micro's own $SRV.STATS then time only the hand-over;
// crisisbus_command_duration_seconds times the handling.)
func Endpoint[Req, Resp any](ctx context.Context, log *zap.Logger, g micro.Group, name, subject string, h func(context.Context, Req) (Resp, error)) error {
	serve := ops.Commands(name, micro.HandlerFunc(func(r micro.Request) {
		// A fault in one request is refused as one, never the end of the
		// service every agency relies on.
		defer func() {
			if p := recover(); p != nil {
				log.Error("request handler panicked", zap.String("subject", r.Subject()), zap.String("panic", fmt.Sprint(p)), zap.Stack("stack"))
				_ = r.Error(strconv.Itoa(Internal), "internal fault handling "+r.Subject(), nil)
			}
		}()
		req, err := Decode[Req](r.Subject(), r.Data())
		var resp Resp
		// A caller's traceparent header joins its trace (see Call).
		cctx, first := tracing.Recording(ctx, r.Subject())
		if err == nil {
			cctx, err = callerTrace(cctx, r.Subject(), r.Headers())
		}
		if err == nil {
			var cancel context.CancelFunc
			cctx, cancel = context.WithTimeout(cctx, 30*time.Second)
			resp, err = h(cctx, req)
			cancel()
		}
		var opts []micro.RespondOpt
		span, traced := first()
		if traced {
			opts = append(opts, micro.WithHeaders(micro.Headers{tracing.ResponseHeader: {span.String()}}))
		}
		if err != nil {
			code := CodeOf(err)
			lvl := log.Info
			if code == Internal || code == Unavailable {
				lvl = log.Error
			}
			// The caller gets the whole sentence (it is their own input); the
			// log gets what an operator needs and none of the values.
			fields := requestIDs(r.Data())
			if traced {
				fields = append(fields, zap.String("trace_id", span.TraceID), zap.String("span_id", span.SpanID))
			}
			lvl("refused", append(fields, zap.String("subject", r.Subject()), zap.Int("code", code), zap.String("reason", Reason(code, err)))...)
			msg := oneLine(err.Error())
			if code == Unavailable {
				msg = unavailableMessage + " (" + logsafe.Cause(err) + ")"
			}
			_ = r.Error(strconv.Itoa(code), msg, nil, opts...)
			return
		}
		if enc, ok := any(resp).(Encoded); ok {
			// The answer is written in a buffer kept between answers: the
			// bus copies it as it is sent.
			bp := answerBuffers.Get().(*[]byte)
			b, err := enc.AppendJSON((*bp)[:0])
			if err != nil {
				log.Error("encode the answer", zap.String("subject", r.Subject()), zap.Error(err))
				_ = r.Error(strconv.Itoa(Internal), "internal fault encoding the answer to "+r.Subject(), nil, opts...)
				return
			}
			respond(log, r, b, opts)
			if cap(b) <= maxKeptAnswerBuffer {
				*bp = b[:0]
				answerBuffers.Put(bp)
			}
			return
		}
		b, err := json.Marshal(resp)
		if err != nil {
			log.Error("encode the answer", zap.String("subject", r.Subject()), zap.Error(err))
			_ = r.Error(strconv.Itoa(Internal), "internal fault encoding the answer to "+r.Subject(), nil, opts...)
			return
		}
		respond(log, r, b, opts)
	}))
	inFlight := make(chan struct{}, MaxInFlight)
	return g.AddEndpoint(name, micro.HandlerFunc(func(r micro.Request) {
		// The answer goes only to a caller's inbox: a reply subject
		// anywhere else would have this service write its answer there,
		// with its own rights. Such a request is not handled at all.
		if !rights.IsInbox(r.Reply()) {
			log.Warn("request ignored: its reply subject is not a caller's inbox ("+rights.InboxPrefix("<user>")+".…)",
				append(requestIDs(r.Data()), zap.String("subject", r.Subject()), zap.String("reply", r.Reply()))...)
			return
		}
		inFlight <- struct{}{}
		go func() {
			defer func() { <-inFlight }()
			serve.Handle(r)
		}()
	}), micro.WithEndpointSubject(subject))
}

// answerBuffers are the buffers Encoded answers are written in.
var answerBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxKeptAnswerBuffer bounds a buffer kept for the next answer: one grown
// by an unusually long episode is let go.
const maxKeptAnswerBuffer = 1 << 20

// MaxInFlight is how many requests one endpoint handles at once.
const MaxInFlight = 32

// TooLarge ends the refusal (409) of an answer larger than the bus carries
// in one message, saying what to do.
const TooLarge = "the episode has grown too large to send whole; record what comes next on a new episode for the person, linked to this one"

// respond sends the answer b. An answer the bus cannot carry (larger than
// the server's largest message: an episode grown past it) is refused in
// words instead, never left for the caller to wait out its time-out; any
// other failure to send is logged.
func respond(log *zap.Logger, r micro.Request, b []byte, opts []micro.RespondOpt) {
	err := r.Respond(b, opts...)
	if err == nil {
		return
	}
	if natsbus.TooLarge(err) {
		log.Error("the answer is larger than the bus carries in one message; refused instead",
			append(requestIDs(r.Data()), zap.String("subject", r.Subject()), zap.Int("bytes", len(b)))...)
		_ = r.Error(strconv.Itoa(Conflict), fmt.Sprintf("the answer to %s is %.1f MB, more than the bus carries in one message: %s", r.Subject(), float64(len(b))/(1<<20), TooLarge), nil, opts...)
		return
	}
	log.Warn("could not send the answer", zap.String("subject", r.Subject()), zap.String("cause", logsafe.Cause(err)))
}

// Encoded is an answer that writes its own JSON: one carrying a document
// already encoded (an episode's view), sent as it is. encoding/json would
// scan and compact such a document again (json.RawMessage), for every
// answer, in proportion to the episode.
type Encoded interface {
	AppendJSON(b []byte) ([]byte, error)
}

// AppendRawLast appends v's JSON, whose last member must be null, with raw
// (a JSON document) in that member's place; raw empty leaves the null.
// It is how an Encoded answer writes the document it carries.
func AppendRawLast(b []byte, v any, raw json.RawMessage) ([]byte, error) {
	enc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(enc, []byte(":null}")) {
		return nil, fmt.Errorf("rpc: the JSON of %T does not end with a null member", v)
	}
	if len(raw) == 0 {
		return append(b, enc...), nil
	}
	b = append(b, enc[:len(enc)-len("null}")]...)
	b = append(b, raw...)
	return append(b, '}'), nil
}

// callerTrace is ctx carrying the caller's span, when the request has a
// traceparent header (W3C Trace Context, as integrators' tracing sends it):
// the command continues the caller's trace (or, on an episode that has
// one, the episode's). A malformed one is refused, naming the header.
func callerTrace(ctx context.Context, subject string, h micro.Headers) (context.Context, error) {
	tp := h.Get(tracing.Header)
	if tp == "" {
		return ctx, nil
	}
	tc, err := events.ParseTraceParent(tp)
	if err != nil {
		return ctx, events.Errorf(events.Invalid, "bad request to %s: the %s header: %v", subject, tracing.Header, err)
	}
	// A tracestate that could not travel in an event is dropped, as W3C
	// Trace Context says a receiver does; the trace goes on without it.
	state := h.Get(tracing.TraceStateHeader)
	if len(state) > events.MaxTraceStateLen || strings.ContainsFunc(state, func(r rune) bool { return r < ' ' || r > '~' }) {
		state = ""
	}
	return tracing.WithRemote(ctx, tc, state), nil
}

// Reason says why a request was refused without quoting what it held: the
// code's meaning, and for a fault its kind (a timeout, a JetStream error).
func Reason(code int, err error) string {
	switch code {
	case BadRequest:
		return "bad input"
	case Forbidden:
		return "forbidden by law"
	case NotFound:
		return "unknown episode or handoff"
	case Conflict:
		return "forbidden by the episode's state"
	case Unavailable:
		return "store unavailable: " + logsafe.Cause(err)
	}
	return "fault: " + logsafe.Cause(err)
}

// requestIDs returns the ids a request names (episode, handoff, event), as
// log fields, leaving out any that is not an id.
func requestIDs(data []byte) []zap.Field {
	var ids struct {
		Episode   string `json:"episode"`
		HandoffID string `json:"handoffId"`
		EventID   string `json:"eventId"`
	}
	_ = json.Unmarshal(data, &ids)
	var out []zap.Field
	for _, f := range []struct{ key, v string }{{"episode", ids.Episode}, {"handoff_id", ids.HandoffID}, {"event_id", ids.EventID}} {
		if id := logsafe.ID(f.v); id != "" {
			out = append(out, zap.String(f.key, id))
		}
	}
	return out
}

// Decode reads a request as Endpoint does, before any handler runs: one
// JSON object of type Req with no unknown fields and nothing after it, then
// Req's Validate. Any failure is a BadRequest refusal that says what was
// wrong. It needs no server, so it can be tested and fuzzed alone.
func Decode[Req any](subject string, data []byte) (Req, error) {
	var req Req
	if err := Check(subject, data); err != nil {
		return req, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, events.Errorf(events.Invalid, "bad request to %s: %v", subject, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, events.Errorf(events.Invalid, "bad request to %s: more than one JSON value", subject)
	}
	if v, ok := any(&req).(Validator); ok {
		if err := v.Validate(); err != nil {
			return req, events.Errorf(events.Invalid, "%s: %v", subject, err)
		}
	}
	return req, nil
}

// MaxRequestBytes bounds a request's body: the largest command (an episode
// opened with the person and their own words, each text at most the
// contract's 4,000 characters) is a few tens of kilobytes.
const MaxRequestBytes = 256 << 10

// The request fields, at any depth, that name an id or an agency: what a
// service puts into a subject or a key-value key.
var (
	idFields    = []string{"episode", "otherEpisode", "handoffId", "eventId", "after"}
	tokenFields = []string{"agency", "to"}
)

// Check is the edge every request passes, in the client before it is sent
// (Call) and in the service before any handler runs (Decode): it refuses
// with BadRequest a subject that cannot go on the bus, a body over
// MaxRequestBytes, and an id (episode, otherEpisode, handoffId, eventId,
// after) or agency (agency, to) that could not go into a subject or key,
// naming the field and the limit. One over-long id would otherwise make a
// protocol line the NATS server closes the connection on, for good (see
// events.MaxIDLen). A body that is not JSON is left to Decode to refuse.
func Check(subject string, body []byte) error {
	if err := events.CheckSubject("subject", subject); err != nil {
		return events.Errorf(events.Invalid, "bad request: %w", err)
	}
	if len(body) > MaxRequestBytes {
		return events.Errorf(events.Invalid, "bad request to %s: the body is too large: %d bytes, at most %d", subject, len(body), MaxRequestBytes)
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	if err := checkFields(v); err != nil {
		return events.Errorf(events.Invalid, "bad request to %s: %w", subject, err)
	}
	return nil
}

func checkFields(v any) error {
	switch v := v.(type) {
	case map[string]any:
		var errs []error
		for _, k := range slices.Sorted(maps.Keys(v)) {
			val := v[k]
			if s, ok := val.(string); ok && s != "" {
				// Keys are matched as Go's decoder matches them, whatever
				// their case ("AftEr" fills After).
				is := func(f string) bool { return strings.EqualFold(f, k) }
				switch {
				case slices.ContainsFunc(idFields, is):
					errs = append(errs, events.CheckID(k, s))
				case slices.ContainsFunc(tokenFields, is):
					errs = append(errs, events.CheckToken(k, s))
				}
				continue
			}
			errs = append(errs, checkFields(val))
		}
		return errors.Join(errs...)
	case []any:
		for _, e := range v {
			if err := checkFields(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func oneLine(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte("\n"), []byte(" "))) }

// Call sends req to subject and decodes the reply into Resp; a refusal comes
// back as an *Error with its code and sentence. The span ctx carries, if
// any, goes with the request (its traceparent header); on a
// tracing.Recording ctx, the span that handled the command is noted. A request the caller's user
// may not send is refused at once (403), on a connection made by
// broker.ConnectAs.
func Call[Req, Resp any](ctx context.Context, nc *nats.Conn, subject string, req Req) (Resp, error) {
	var resp Resp
	err := CallInto(ctx, nc, subject, req, &resp)
	return resp, err
}

// CallInto is Call decoding the reply into resp, a pointer, which may hold
// defaults for what the reply leaves out.
func CallInto[Req any](ctx context.Context, nc *nats.Conn, subject string, req Req, resp any) error {
	raw, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if err := Check(subject, raw); err != nil {
		return &Error{Code: BadRequest, Message: err.Error()}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	// A request the server refuses to pass on (the caller's user may not
	// send to subject) is answered at once with 403, not left to time out.
	rctx, release := denied.Cancel(ctx, nc, subject)
	defer release()
	m := nats.NewMsg(subject)
	m.Data = raw
	// The caller's span travels with the request: what the command stores
	// continues its trace.
	if s, ok := tracing.From(ctx); ok {
		m.Header.Set(tracing.Header, s.String())
		if s.State != "" {
			m.Header.Set(tracing.TraceStateHeader, s.State)
		}
	}
	msg, err := nc.RequestMsgWithContext(rctx, m)
	if err != nil {
		if denied.Refused(rctx) {
			return &Error{Code: Forbidden, Message: fmt.Sprintf("the server refused to pass on %s: this connection's user may not send it", subject)}
		}
		return fmt.Errorf("%s: %w", subject, err)
	}
	if tc, err := events.ParseTraceParent(msg.Header.Get(tracing.ResponseHeader)); err == nil {
		tracing.Replied(ctx, tc)
	}
	if c := msg.Header.Get(micro.ErrorCodeHeader); c != "" {
		code, _ := strconv.Atoi(c)
		return &Error{Code: code, Message: msg.Header.Get(micro.ErrorHeader)}
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("%s: decode reply: %w", subject, err)
	}
	return nil
}
