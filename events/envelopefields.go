package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
)

// Reading a valid envelope in the quick path's single pass (see quick in
// validate.go): each member's value goes into the field of Event whose json
// tag names it, read as encoding/json reads it. The table comes from
// Event's own tags, so there is one statement of the envelope's fields;
// a test holds the result to json.Unmarshal's on every example.

type envelopeField struct {
	index int
	kind  fieldKind
	// known: a member whose values are few (see knownValues), looked up
	// rather than copied.
	known bool
}

type fieldKind int

const (
	fieldString fieldKind = iota // string, Agency
	fieldTime                    // time.Time
	fieldRaw                     // json.RawMessage
)

var envelopeFields = sync.OnceValue(func() map[string]envelopeField {
	t := reflect.TypeFor[Event]()
	out := map[string]envelopeField{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "" || name == "-":
			continue
		case f.Type == reflect.TypeFor[time.Time]():
			out[name] = envelopeField{i, fieldTime, false}
		case f.Type == reflect.TypeFor[json.RawMessage]():
			out[name] = envelopeField{i, fieldRaw, false}
		case f.Type.Kind() == reflect.String:
			known := name == "specversion" || name == "source" || name == "type" || name == "datacontenttype" ||
				name == "dataschema" || name == "toagency"
			out[name] = envelopeField{i, fieldString, known}
		default:
			panic(fmt.Sprintf("events: Event.%s has a type the quick path cannot read", f.Name))
		}
	}
	return out
})

// envelopeReader fills an Event from the members the quick path hands it.
type envelopeReader struct {
	e        Event
	fields   map[string]envelopeField
	err      error
	memberFn func(name, value []byte) // member, bound once
}

func (r *envelopeReader) member(name, value []byte) {
	f, ok := r.fields[string(name)]
	if !ok {
		if r.err == nil {
			r.err = fmt.Errorf("member %q is not an envelope field", name)
		}
		return
	}
	v := reflect.ValueOf(&r.e).Elem().Field(f.index)
	switch f.kind {
	case fieldString:
		if len(value) >= 2 && value[0] == '"' && bytes.IndexByte(value, '\\') < 0 {
			if f.known {
				if known, ok := knownValues()[string(value[1:len(value)-1])]; ok {
					v.SetString(known)
					return
				}
			}
			v.SetString(string(value[1 : len(value)-1]))
			return
		}
		var s string
		if err := json.Unmarshal(value, &s); err != nil && r.err == nil {
			r.err = err
		}
		v.SetString(s)
	case fieldTime:
		if err := v.Addr().Interface().(*time.Time).UnmarshalJSON(value); err != nil && r.err == nil {
			r.err = err
		}
	case fieldRaw:
		v.SetBytes(bytes.Clone(value))
	}
}

// knownValues are the values most envelopes repeat (the spec version, the
// content type, the agencies, the types, the data schemas' URLs), each
// held once: reading one costs a lookup, not a new string.
var knownValues = sync.OnceValue(func() map[string]string {
	out := map[string]string{SpecVersion: SpecVersion, "application/json": "application/json"}
	for _, a := range Publishers {
		out[string(a)] = string(a)
	}
	for typ, url := range dataSchemaOf {
		out[typ], out[url] = typ, url
	}
	return out
})
