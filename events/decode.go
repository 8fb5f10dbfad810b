package events

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Reading data the quick path has found valid into its Go type. Every
// event's data is read into its Go type at publish and at consume (so an
// event the contract accepts is one every Go service can read), and
// encoding/json spent half of checking a large event doing it: it checks
// the syntax again, then decodes by reflection. The data is strict,
// valid JSON by then, so decodeData reads it in one pass, with a plan per
// Go type made once. It reads what the catalogue's types hold (strings,
// booleans, integers, times, lists of strings, nested and optional
// structs) written plainly; anything else (an escape in a string, a null,
// an integer written 34.0, a member the type does not name, a type it does
// not know) says no, and encoding/json reads the data as before. A test
// holds the two to the same values on every example and every systematic
// variation of them.

type dataKind int

const (
	kString dataKind = iota
	kBool
	kInt
	kTime
	kStrings
	kPtrInt
	kStruct
	kPtrStruct
	kStructs
	kAnyMap // map[string]any
)

type dataField struct {
	index int
	kind  dataKind
	plan  *dataPlan // of a struct, or of what a pointer points to
}

type dataPlan struct {
	fields map[string]dataField
}

var (
	dataPlans       sync.Map // reflect.Type → *dataPlan (nil: not readable here)
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType        = reflect.TypeFor[time.Time]()
	anyMapType      = reflect.TypeFor[map[string]any]()
)

// planOf is the plan of a struct type, nil when decodeData cannot read it.
func planOf(t reflect.Type) *dataPlan {
	if p, ok := dataPlans.Load(t); ok {
		return p.(*dataPlan)
	}
	p := makePlan(t, 0)
	dataPlans.Store(t, p)
	return p
}

func custom(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(unmarshalerType) || pt.Implements(unmarshalerType) || t.Implements(textType) || pt.Implements(textType)
}

func makePlan(t reflect.Type, depth int) *dataPlan {
	if t.Kind() != reflect.Struct || depth > 8 || custom(t) {
		return nil
	}
	p := &dataPlan{fields: map[string]dataField{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return nil
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		if strings.Contains(opts, "string") {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		df := dataField{index: i}
		switch {
		case ft == timeType:
			df.kind = kTime
		case custom(ft):
			return nil
		case ft.Kind() == reflect.String:
			df.kind = kString
		case ft.Kind() == reflect.Bool:
			df.kind = kBool
		case ft.Kind() == reflect.Int || ft.Kind() == reflect.Int64 || ft.Kind() == reflect.Int32:
			df.kind = kInt
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String && !custom(ft.Elem()):
			df.kind = kStrings
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Int && !custom(ft.Elem()):
			df.kind = kPtrInt
		case ft.Kind() == reflect.Struct:
			df.kind, df.plan = kStruct, makePlan(ft, depth+1)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && ft.Elem() != timeType:
			df.kind, df.plan = kPtrStruct, makePlan(ft.Elem(), depth+1)
		case ft == anyMapType:
			df.kind = kAnyMap
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && ft.Elem() != timeType:
			df.kind, df.plan = kStructs, makePlan(ft.Elem(), depth+1)
		default:
			return nil
		}
		if (df.kind == kStruct || df.kind == kPtrStruct || df.kind == kStructs) && df.plan == nil {
			return nil
		}
		if _, twice := p.fields[name]; twice {
			return nil
		}
		p.fields[name] = df
	}
	return p
}

// decodeData reads data (valid JSON) into v, a pointer to a struct, as
// json.Unmarshal would into a new value; false when it cannot be sure to
// (v may then hold part of data: use a new one).
func decodeData(data []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	p := planOf(rv.Elem().Type())
	if p == nil {
		return false
	}
	d := dataReader{b: data}
	d.ws()
	if !d.object(p, rv.Elem()) {
		return false
	}
	d.ws()
	return d.i == len(d.b)
}

type dataReader struct {
	b []byte
	i int
}

// array reads a JSON array, each element (after any whitespace) with elem.
func (d *dataReader) array(elem func() bool) bool {
	if d.i >= len(d.b) || d.b[d.i] != '[' {
		return false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return true
	}
	for {
		d.ws()
		if !elem() {
			return false
		}
		d.ws()
		if d.i >= len(d.b) {
			return false
		}
		if d.b[d.i] == ']' {
			d.i++
			return true
		}
		if d.b[d.i] != ',' {
			return false
		}
		d.i++
	}
}

func (d *dataReader) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// str reads a string without escapes and returns its bytes (quotes
// excluded); false for any other value.
func (d *dataReader) str() ([]byte, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	for j := d.i + 1; j < len(d.b); j++ {
		switch d.b[j] {
		case '\\':
			return nil, false
		case '"':
			s := d.b[d.i+1 : j]
			d.i = j + 1
			return s, true
		}
	}
	return nil, false
}

func (d *dataReader) object(p *dataPlan, into reflect.Value) bool {
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return false
	}
	d.i++
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return true
	}
	for {
		d.ws()
		key, ok := d.str()
		if !ok {
			return false
		}
		f, ok := p.fields[string(key)]
		if !ok {
			return false
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return false
		}
		d.i++
		d.ws()
		if !d.value(f, into.Field(f.index)) {
			return false
		}
		d.ws()
		if d.i >= len(d.b) {
			return false
		}
		if d.b[d.i] == '}' {
			d.i++
			return true
		}
		if d.b[d.i] != ',' {
			return false
		}
		d.i++
	}
}

func (d *dataReader) value(f dataField, v reflect.Value) bool {
	switch f.kind {
	case kString:
		s, ok := d.str()
		if !ok {
			return false
		}
		v.SetString(string(s))
	case kBool:
		switch {
		case bytes.HasPrefix(d.b[d.i:], []byte("true")):
			v.SetBool(true)
			d.i += 4
		case bytes.HasPrefix(d.b[d.i:], []byte("false")):
			v.SetBool(false)
			d.i += 5
		default:
			return false
		}
	case kInt, kPtrInt:
		start := d.i
		for d.i < len(d.b) && (d.b[d.i] == '-' || (d.b[d.i] >= '0' && d.b[d.i] <= '9')) {
			d.i++
		}
		n, ok := plainDigits(d.b[start:d.i])
		if !ok || (d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E')) {
			return false
		}
		if f.kind == kPtrInt {
			p := reflect.New(v.Type().Elem())
			v.Set(p)
			v = p.Elem()
		}
		if v.OverflowInt(n) {
			return false
		}
		v.SetInt(n)
	case kTime:
		start := d.i
		if _, ok := d.str(); !ok {
			return false
		}
		if err := v.Addr().Interface().(*time.Time).UnmarshalJSON(d.b[start:d.i]); err != nil {
			return false
		}
	case kStrings:
		list := reflect.MakeSlice(v.Type(), 0, 4)
		if !d.array(func() bool {
			s, ok := d.str()
			if ok {
				list = reflect.Append(list, reflect.ValueOf(string(s)).Convert(v.Type().Elem()))
			}
			return ok
		}) {
			return false
		}
		v.Set(list)
	case kStructs:
		list := reflect.MakeSlice(v.Type(), 0, 4)
		if !d.array(func() bool {
			elem := reflect.New(v.Type().Elem()).Elem()
			if !d.object(f.plan, elem) {
				return false
			}
			list = reflect.Append(list, elem)
			return true
		}) {
			return false
		}
		v.Set(list)
	case kAnyMap:
		m, ok := d.anyValue(0)
		if _, isMap := m.(map[string]any); !ok || !isMap {
			return false
		}
		v.Set(reflect.ValueOf(m))
	case kStruct:
		return d.object(f.plan, v)
	case kPtrStruct:
		p := reflect.New(v.Type().Elem())
		if !d.object(f.plan, p.Elem()) {
			return false
		}
		v.Set(p)
	default:
		return false
	}
	return true
}

// anyValue reads a value as json.Unmarshal reads it into an any: objects
// as map[string]any, arrays as []any, numbers as float64.
func (d *dataReader) anyValue(depth int) (any, bool) {
	if d.i >= len(d.b) || depth > 32 {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '"':
		s, ok := d.str()
		return string(s), ok
	case c == '{':
		d.i++
		m := map[string]any{}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return m, true
		}
		for {
			d.ws()
			key, ok := d.str()
			if !ok {
				return nil, false
			}
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, false
			}
			d.i++
			d.ws()
			v, ok := d.anyValue(depth + 1)
			if !ok {
				return nil, false
			}
			m[string(key)] = v
			d.ws()
			if d.i >= len(d.b) {
				return nil, false
			}
			if d.b[d.i] == '}' {
				d.i++
				return m, true
			}
			if d.b[d.i] != ',' {
				return nil, false
			}
			d.i++
		}
	case c == '[':
		d.i++
		list := []any{}
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return list, true
		}
		for {
			d.ws()
			v, ok := d.anyValue(depth + 1)
			if !ok {
				return nil, false
			}
			list = append(list, v)
			d.ws()
			if d.i >= len(d.b) {
				return nil, false
			}
			if d.b[d.i] == ']' {
				d.i++
				return list, true
			}
			if d.b[d.i] != ',' {
				return nil, false
			}
			d.i++
		}
	case bytes.HasPrefix(d.b[d.i:], []byte("true")):
		d.i += 4
		return true, true
	case bytes.HasPrefix(d.b[d.i:], []byte("false")):
		d.i += 5
		return false, true
	case bytes.HasPrefix(d.b[d.i:], []byte("null")):
		d.i += 4
		return nil, true
	case c == '-' || (c >= '0' && c <= '9'):
		start := d.i
		for d.i < len(d.b) && strings.IndexByte("+-.eE0123456789", d.b[d.i]) >= 0 {
			d.i++
		}
		f, err := strconv.ParseFloat(string(d.b[start:d.i]), 64)
		return f, err == nil
	}
	return nil, false
}

// plainDigits reads an integer written as at most 18 plain digits (no
// leading zero but 0 itself, as JSON writes it).
func plainDigits(text []byte) (int64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) == 0 || len(text) > 18 || (len(text) > 1 && text[0] == '0') {
		return 0, false
	}
	var n int64
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
