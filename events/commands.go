package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Command is one request-reply command of the contract: the subject its
// service answers on and the Go types the service decodes the request into
// and answers with. The services declare theirs (services/rpc.Command);
// the JSON Schemas of schemas/commands/ and the AsyncAPI document's
// commands are generated from these, so they cannot drift from what the
// services decode.
type Command struct {
	Subject string // e.g. "crisisbus.police.s136.detain"
	// Agency is the agency the subject names, when the same command is
	// served for every agency (crisisbus.<agency>.open,
	// crisisbus.record.<agency>.view): its token is the AsyncAPI channel's
	// {agency} parameter. Empty for a command of one service alone.
	Agency   Agency
	Request  reflect.Type
	Response reflect.Type
}

// CommandsDir is where the command schemas are published, under schemas/.
const CommandsDir = "commands"

// SchemaName names the schema of a command's request or reply type: its
// package and type, e.g. "police.DetainRequest" (schemas/commands/police.DetainRequest.json).
func SchemaName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	pkg := t.PkgPath()
	return pkg[strings.LastIndex(pkg, "/")+1:] + "." + t.Name()
}

// idFields are the request fields that name an id: what the services check
// as ids before any handler runs (services/rpc.Check), at most MaxIDLen
// letters, digits, '-' and '_'.
var idFields = []string{"episode", "otherEpisode", "handoffId", "eventId", "after", "request"}

// commonDefs are the named types of the domain whose values the shared
// definitions (schemas/v1/common.json) list.
var commonDefs = map[reflect.Type]string{
	reflect.TypeFor[Agency]():      "agency",
	reflect.TypeFor[HandoffKind](): "handoffKind",
	reflect.TypeFor[Risk]():        "risk",
	reflect.TypeFor[PlaceType]():   "placeType",
	reflect.TypeFor[ClockKind]():   "clockKind",
}

// CommandSchema renders the JSON Schema (2020-12) of a command's request
// (request true) or reply type t, from its fields and their json tags, as
// the service's decoder reads it:
//   - every field is a property, and no other property is allowed (the
//     services refuse unknown fields, at every depth);
//   - a field without omitempty (or omitzero) is required: a request's
//     Validate demands it (a test sends each request without each of its
//     fields to the service's decoder to hold this true);
//   - the fields of an embedded event's data are those of its schema in
//     schemas/v1 (each property refers to it), so a command records only
//     what the event's schema accepts;
//   - a field that becomes a field of an event says so in its tag
//     (schema:"v1/s136.extended.json#/properties/hours"), and its schema is
//     that field's; a field's minimum:"1" tag says the request asks more
//     than its type or its event;
//   - an id a request names is an id the services accept (at most
//     MaxIDLen letters, digits, '-' and '_');
//   - a reply's list or object may be null (Go's encoder writes a nil one so).
func CommandSchema(t reflect.Type, request bool) ([]byte, error) {
	g := &schemaGen{request: request, defs: map[string]any{}}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct: a command's request and reply are JSON objects", t)
	}
	body, err := g.object(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SchemaName(t), err)
	}
	role := "reply"
	if request {
		role = "request"
	}
	doc := obj{
		{"$schema", "https://json-schema.org/draft/2020-12/schema"},
		{"$id", "https://crisisbus.local/schemas/" + CommandsDir + "/" + SchemaName(t) + ".json"},
		{"title", SchemaName(t)},
		{"description", fmt.Sprintf("The %s body of a crisisbus command, the Go type %s. Generated from that type (go run ./cmd/crisisbus schema commands schemas/commands): do not edit by hand.", role, SchemaName(t))},
	}
	doc = append(doc, body...)
	if len(g.defs) > 0 {
		var defs obj
		for _, k := range slices.Sorted(maps.Keys(g.defs)) {
			defs = append(defs, kv{k, g.defs[k]})
		}
		doc = append(doc, kv{"$defs", defs})
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render the schema of %s: %w", SchemaName(t), err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

type schemaGen struct {
	request bool
	defs    map[string]any // named structs met inside the root, by name
}

// field is one JSON property of a struct, its embedded structs flattened as
// encoding/json flattens them.
type field struct {
	name     string
	t        reflect.Type
	optional bool
	event    *Spec  // set when the field comes from an embedded event's data
	ref      string // the contract's schema of the field, from its tag schema:"v1/s136.extended.json#/properties/hours"
	minimum  string // a least value the request's Validate asks beyond ref's, from its tag minimum:"1"
}

func fieldsOf(t reflect.Type, event *Spec) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				inner := event
				if s, ok := byGoType[et]; ok {
					inner = &s
				}
				out = append(out, fieldsOf(et, inner)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		optional := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
		out = append(out, field{name: name, t: f.Type, optional: optional, event: event, ref: f.Tag.Get("schema"), minimum: f.Tag.Get("minimum")})
	}
	return out
}

// Enumerated is a request whose Validate takes only some values of a
// field: Enums names them, from the list Validate checks against, for the
// contract to say so.
type Enumerated interface{ Enums() map[string][]string }

// object is the schema keywords of struct t: its properties, which are
// required, and that no other is allowed.
func (g *schemaGen) object(t reflect.Type) (obj, error) {
	var props obj
	var required []string
	var enums map[string][]string
	if e, ok := reflect.New(t).Interface().(Enumerated); ok {
		enums = e.Enums()
	}
	for _, f := range fieldsOf(t, nil) {
		var s any
		if vals, ok := enums[f.name]; ok {
			s = obj{{"type", "string"}, {"enum", vals}}
			if f.t.Kind() == reflect.Slice {
				s = obj{{"type", "array"}, {"items", s}}
			}
		} else if f.ref != "" {
			s = obj{{"$ref", "../" + f.ref}}
		} else if f.event != nil {
			s = obj{{"$ref", "../" + f.event.Version + "/" + f.event.Name + ".json#/properties/" + f.name}}
		} else {
			var err error
			if s, err = g.schema(f.t, f.name, !f.optional); err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
		}
		if f.minimum != "" {
			// The request asks more than the type or the event: an age
			// is never 0, nor a stream sequence.
			n, err := strconv.Atoi(f.minimum)
			if err != nil {
				return nil, fmt.Errorf("field %s: minimum %q: %w", f.name, f.minimum, err)
			}
			o, ok := s.(obj)
			if !ok {
				return nil, fmt.Errorf("field %s: minimum on a schema that is not an object", f.name)
			}
			o = slices.DeleteFunc(slices.Clone(o), func(p kv) bool { return p.k == "minimum" })
			s = append(o, kv{"minimum", n})
		}
		props = append(props, kv{f.name, s})
		if !f.optional {
			required = append(required, f.name)
		}
	}
	out := obj{{"type", "object"}, {"additionalProperties", false}, {"properties", props}}
	if len(required) > 0 {
		out = append(out, kv{"required", required})
	}
	return out, nil
}

// schema is the schema of one value of type t, named name in its object;
// present says whether a reply always holds it (so a nil one is null).
func (g *schemaGen) schema(t reflect.Type, name string, present bool) (any, error) {
	nullable := func(s any) any {
		if g.request || !present {
			return s
		}
		return obj{{"anyOf", []any{s, obj{{"type", "null"}}}}}
	}
	if t.Kind() == reflect.Pointer {
		s, err := g.schema(t.Elem(), name, false)
		if err != nil {
			return nil, err
		}
		return nullable(s), nil
	}
	if s, ok := byGoType[t]; ok {
		return obj{{"$ref", "../" + s.Version + "/" + s.Name + ".json"}}, nil
	}
	if def, ok := commonDefs[t]; ok {
		if t == reflect.TypeFor[Agency]() && !g.request {
			// A reply may name crisisbus's own publishers too.
			return obj{{"type", "string"}, {"enum", Publishers}}, nil
		}
		return obj{{"$ref", "../v1/common.json#/$defs/" + def}}, nil
	}
	switch t {
	case reflect.TypeFor[time.Time]():
		if g.request {
			return obj{{"type", "string"}, {"format", "date-time"}, {"pattern", PlausibleTime}}, nil
		}
		return obj{{"type", "string"}, {"format", "date-time"}}, nil
	case reflect.TypeFor[json.RawMessage]():
		return obj{{"description", "Any JSON value."}}, nil
	}
	switch t.Kind() {
	case reflect.String:
		if g.request && slices.Contains(idFields, name) {
			return obj{{"type", "string"}, {"pattern", fmt.Sprintf("^[A-Za-z0-9_-]{1,%d}$", MaxIDLen)},
				{"description", fmt.Sprintf("An id: 1 to %d letters, digits, '-' and '_'.", MaxIDLen)}}, nil
		}
		return obj{{"type", "string"}}, nil
	case reflect.Bool:
		return obj{{"type", "boolean"}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return obj{{"type", "integer"}}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{{"type", "integer"}, {"minimum", 0}}, nil
	case reflect.Float32, reflect.Float64:
		return obj{{"type", "number"}}, nil
	case reflect.Interface:
		return obj{{"description", "Any JSON value."}}, nil
	case reflect.Slice, reflect.Array:
		items, err := g.schema(t.Elem(), "", true)
		if err != nil {
			return nil, err
		}
		return nullable(obj{{"type", "array"}, {"items", items}}), nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s is not a string", t.Key())
		}
		vals, err := g.schema(t.Elem(), "", true)
		if err != nil {
			return nil, err
		}
		return nullable(obj{{"type", "object"}, {"additionalProperties", vals}}), nil
	case reflect.Struct:
		def := SchemaName(t)
		if _, done := g.defs[def]; !done {
			g.defs[def] = nil // met: a type that holds itself refers to its def
			body, err := g.object(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", def, err)
			}
			g.defs[def] = body
		}
		return obj{{"$ref", "#/$defs/" + def}}, nil
	}
	return nil, fmt.Errorf("%s cannot be described in JSON Schema", t)
}

// CommandSchemas renders the schema of every request and reply type of
// cmds, by file name under schemas/commands/ ("police.DetainRequest.json").
// A type that is both a request and a reply is refused: it would need two
// schemas of one name.
func CommandSchemas(cmds []Command) (map[string][]byte, error) {
	out := map[string][]byte{}
	role := map[reflect.Type]bool{}
	for _, c := range cmds {
		for _, x := range []struct {
			t       reflect.Type
			request bool
		}{{c.Request, true}, {c.Response, false}} {
			if r, seen := role[x.t]; seen {
				if r != x.request {
					return nil, fmt.Errorf("%s is both a request and a reply", SchemaName(x.t))
				}
				continue
			}
			role[x.t] = x.request
			raw, err := CommandSchema(x.t, x.request)
			if err != nil {
				return nil, err
			}
			out[SchemaName(x.t)+".json"] = raw
		}
	}
	return out, nil
}
