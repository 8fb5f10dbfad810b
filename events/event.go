package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/crisisbus/crisisbus/schemas"
)

// SpecVersion is the CloudEvents version of the envelope.
const SpecVersion = "1.0"

// Event is the one envelope: a CloudEvents 1.0 event in JSON form, with
// crisisbus's extension attributes. Subject is the episode id; ID is also the
// JetStream message id, so a repeated publish is dropped by the server.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          Agency    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	DataSchema      string    `json:"dataschema"`
	CorrelationID   string    `json:"correlationid,omitempty"`
	CausationID     string    `json:"causationid,omitempty"`
	Actor           string    `json:"actor,omitempty"`
	Purpose         string    `json:"purpose,omitempty"`
	LegalBasis      string    `json:"legalbasis,omitempty"`
	ToAgency        Agency    `json:"toagency,omitempty"`
	// TraceParent and TraceState are the CloudEvents distributed-tracing
	// extension (W3C Trace Context): the episode's trace and the span of
	// the command that published the event (see trace.go).
	TraceParent string          `json:"traceparent,omitempty"`
	TraceState  string          `json:"tracestate,omitempty"`
	Data        json.RawMessage `json:"data"`
}

// Episode is the episode id (the CloudEvents subject).
func (e Event) Episode() string { return e.Subject }

// Spec returns the catalogue entry of the event's type.
func (e Event) Spec() (Spec, bool) { return Lookup(e.Type) }

// Option sets an optional attribute of a new event.
type Option func(*Event)

// At sets when the fact happened (default: now).
func At(t time.Time) Option { return func(e *Event) { e.Time = t.UTC() } }

// To addresses the event to an agency (required for handoff events).
func To(a Agency) Option { return func(e *Event) { e.ToAgency = a } }

// By names the person who acted.
func By(actor string) Option { return func(e *Event) { e.Actor = actor } }

// CausedBy links the event to the one that caused it, and carries its correlation id.
func CausedBy(cause Event) Option {
	return func(e *Event) {
		e.CausationID = cause.ID
		if e.CorrelationID == "" {
			e.CorrelationID = cause.CorrelationID
		}
	}
}

// Correlation sets the correlation id.
func Correlation(id string) Option { return func(e *Event) { e.CorrelationID = id } }

// Disclosure records why information is shared and on what legal basis.
func Disclosure(purpose, legalBasis string) Option {
	return func(e *Event) { e.Purpose, e.LegalBasis = purpose, legalBasis }
}

// WithID sets the event id (for deterministic events such as a clock's breach,
// whose id must be the same however often it is computed).
func WithID(id string) Option { return func(e *Event) { e.ID = id } }

// New builds an event of the type of data, published by source, about episode.
// It does not validate: Validate (called by every publish) does.
func New(source Agency, episode string, data any, opts ...Option) (Event, error) {
	spec, err := SpecOf(data)
	if err != nil {
		return Event{}, err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s data: %w", spec.Name, err)
	}
	e := Event{
		SpecVersion:     SpecVersion,
		ID:              uuid.NewString(),
		Source:          source,
		Type:            spec.Type(),
		Subject:         episode,
		Time:            time.Now().UTC().Truncate(time.Millisecond),
		DataContentType: "application/json",
		DataSchema:      schemas.DataSchemaURL(spec.Name, spec.Version),
		Data:            raw,
	}
	if h, ok := data.(*HandoffOffered); ok && e.ToAgency == "" {
		e.ToAgency = h.To
	}
	if h, ok := data.(HandoffOffered); ok && e.ToAgency == "" {
		e.ToAgency = h.To
	}
	for _, o := range opts {
		o(&e)
	}
	return e, nil
}

// NewEpisodeID returns a fresh episode id.
func NewEpisodeID() string { return uuid.NewString() }

// Decode unmarshals the event's data into its Go type and returns it as a
// pointer. An integer written as 3.4e1 or 34.0 reads as 34 (see numbers.go).
func (e Event) Decode() (any, error) {
	spec, ok := Lookup(e.Type)
	if !ok {
		return nil, fmt.Errorf("%w: unknown event type %q", ErrUnknownType, e.Type)
	}
	v := spec.Data()
	if err := unmarshalData(e.Data, v); err != nil {
		return nil, fmt.Errorf("decode %s data of event %s: %w", spec.Name, e.ID, err)
	}
	return v, nil
}

// DecodeInto unmarshals the event's data into v, which must be the type's Go type.
func (e Event) DecodeInto(v any) error {
	spec, err := SpecOf(v)
	if err != nil {
		return err
	}
	if spec.Type() != e.Type {
		return fmt.Errorf("event %s is %s, not %s", e.ID, e.Type, spec.Type())
	}
	return unmarshalData(e.Data, v)
}

// Sentinel errors of the contract.
var (
	ErrUnknownType = errors.New("unknown event type")
	ErrNotAuthor   = errors.New("agency may not publish this event")
	ErrInvalid     = schemas.ErrInvalid
)

// Unreadable is a stored message that is not a usable event. Its agency and
// episode come from the subject it was stored on, which the server's
// per-agency permissions vouch for even when the body is garbage.
type Unreadable struct {
	Seq     uint64 `json:"seq"`
	Subject string `json:"subject"`
	Agency  Agency `json:"agency"`
	Episode string `json:"episode"`
	Reason  string `json:"reason"`
}
