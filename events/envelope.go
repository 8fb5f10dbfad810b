package events

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/crisisbus/crisisbus/schemas"
)

// PlausibleTime is the pattern every date-time of the contract matches:
// RFC 3339 in the years 2000 to 2099, so a standard JSON Schema validator
// (for which "format" is only an annotation) refuses a time crisisbus
// refuses (year 0001, year 9999, a date without a time).
const PlausibleTime = `^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$`

// allZeroTrace matches a traceparent whose trace id or parent id is all
// zeros, which W3C Trace Context makes invalid.
const allZeroTrace = `^00-(0{32}-[0-9a-f]{16}|[0-9a-f]{32}-0{16})-`

// obj is a JSON object whose keys keep the order they were set in, so the
// generated schema reads as a person would write it.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(p.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// EnvelopeSchema renders schemas/cloudevent.json, the envelope every message
// on the bus must match, from the catalogue and the agencies: which types
// exist, who may publish each, which are addressed to an agency, and the data
// schema of each. So a standard JSON Schema 2020-12 validator given the
// published schemas checks every rule of the contract but those JSON Schema
// cannot state (see the README: the NHS number's check digit, and the
// strict JSON crisisbus reads). A test fails when the file and this differ:
// `go run ./cmd/crisisbus schema envelope > schemas/cloudevent.json`.
func EnvelopeSchema() ([]byte, error) {
	var types []string
	for _, s := range catalogue {
		types = append(types, s.Type())
	}
	str := func(desc string, more ...kv) obj {
		return append(obj{{"type", "string"}}, append(more, kv{"description", desc})...)
	}
	props := obj{
		{"specversion", obj{{"const", SpecVersion}}},
		{"id", obj{{"$ref", "v1/common.json#/$defs/uuid"}, {"description", "Event id: a UUID, also the Nats-Msg-Id so JetStream drops a repeat."}}},
		{"source", str("The publishing agency (or crisisbus's clock and episode record). Must equal the agency token of the NATS subject; which agencies may publish each type is below.", kv{"enum", Publishers})},
		{"type", str("Versioned event type, one of the catalogue's.", kv{"enum", types})},
		{"subject", obj{{"$ref", "v1/common.json#/$defs/uuid"}, {"description", "The crisis episode id."}}},
		{"time", str("When the fact happened (RFC 3339, years 2000 to 2099).", kv{"format", "date-time"}, kv{"pattern", PlausibleTime})},
		{"datacontenttype", obj{{"const", "application/json"}}},
		{"dataschema", str("The JSON Schema of data.", kv{"format", "uri"})},
		{"correlationid", str("Ties together the events of one piece of work, for example a handoff.", kv{"minLength", 1}, kv{"maxLength", 100})},
		{"causationid", obj{{"$ref", "v1/common.json#/$defs/uuid"}, {"description", "The id of the event that caused this one."}}},
		{"actor", str("The person who acted, for example a control-room mental health worker's staff id.", kv{"minLength", 1}, kv{"maxLength", 200})},
		{"purpose", str("Why information is shared or disclosed (Caldicott principle 1).", kv{"minLength", 1}, kv{"maxLength", 500})},
		{"legalbasis", str("The legal basis of the disclosure, for example 'UK GDPR 6(1)(e), 9(2)(h)'.", kv{"minLength", 1}, kv{"maxLength", 200})},
		{"toagency", str("The agency an addressed event (a handoff) is for; the last token of the subject. Required on addressed types, absent on the others, never the source.", kv{"enum", Agencies})},
		{"traceparent", str("W3C Trace Context (the CloudEvents distributed-tracing extension): the episode's trace and the span of the command that published the event, as 00-<trace id>-<span id>-<flags>. One episode is one trace. Optional: events stored before crisisbus traced have none.",
			kv{"pattern", TraceParentPattern}, kv{"not", obj{{"pattern", allZeroTrace}}})},
		{"tracestate", str("W3C Trace Context's vendor-specific trace state, carried with traceparent.", kv{"minLength", 1}, kv{"maxLength", MaxTraceStateLen}, kv{"pattern", "^[ -~]+$"})},
		{"data", obj{{"type", "object"}, {"description", "The fact itself, checked against the schema of its type (below)."}}},
	}
	var rules []any
	for _, s := range catalogue {
		then := obj{{"properties", obj{
			{"source", obj{{"enum", s.Publishers}}},
			{"dataschema", obj{{"const", schemas.DataSchemaURL(s.Name, s.Version)}}},
			{"data", obj{{"$ref", "v1/" + s.Name + ".json"}}},
		}}}
		if s.Addressed {
			then = append(then, kv{"required", []string{"toagency"}})
		} else {
			then = append(then, kv{"not", obj{{"required", []string{"toagency"}}}})
		}
		rules = append(rules, obj{
			{"if", obj{{"properties", obj{{"type", obj{{"const", s.Type()}}}}}, {"required", []string{"type"}}}},
			{"then", then},
		})
	}
	for _, a := range Agencies {
		rules = append(rules, obj{
			{"if", obj{{"properties", obj{{"source", obj{{"const", a}}}}}, {"required", []string{"source"}}}},
			{"then", obj{{"properties", obj{{"toagency", obj{{"not", obj{{"const", a}}}}}}}}},
		})
	}
	if offered, ok := byType[TypePrefix+"handoff.offered.v1"]; ok {
		for _, a := range Agencies {
			rules = append(rules, obj{
				{"if", obj{{"properties", obj{{"type", obj{{"const", offered.Type()}}}, {"toagency", obj{{"const", a}}}}}, {"required", []string{"type", "toagency"}}}},
				{"then", obj{{"properties", obj{{"data", obj{{"properties", obj{{"to", obj{{"const", a}}}}}}}}}}},
			})
		}
	}
	doc := obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", "https://crisisbus.local/schemas/cloudevent.json"},
		{"title", "crisisbus event envelope (CloudEvents 1.0, JSON format)"},
		{"description", "Every message on the bus. Generated from crisisbus's catalogue (go run ./cmd/crisisbus schema envelope): do not edit by hand. The rules after the properties say, for each type, who may publish it, its data schema and whether it is addressed to an agency; an agency never addresses itself; a handoff is offered to the agency named in toagency."},
		{"type", "object"},
		{"properties", props},
		{"required", []string{"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"}},
		{"additionalProperties", false},
		{"allOf", rules},
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render the envelope schema: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
