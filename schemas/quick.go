package schemas

import (
	"bytes"
	"fmt"
	"math/big"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The quick path. Every event is validated at publish and at consume, so
// validation is on the bus's hot path; the general validator decodes the
// JSON into maps and walks them keyword by keyword, which costs about a
// hundred microseconds an event. The quick path compiles the same schema
// files, at Load, into a form that checks an event's bytes in one pass
// without decoding them.
//
// It only ever says yes: Quick and QuickData report whether an event is
// certainly valid. When they cannot say yes (the event breaks a rule, or a
// schema uses a keyword the quick path does not know), the general
// validator decides and names the problems, exactly as before. So the
// contract has one statement, the schema files, and its errors one wording;
// the tests hold the two validators to the same verdict on every example,
// on every systematic variation of them and under fuzzing, and fail when a
// schema uses a keyword the quick path does not compile (QuickGaps).

// maxQuickDepth is how deeply the quick path follows nesting before it
// leaves the event to the general validator.
const maxQuickDepth = 64

// maxQuickKeys is how many member names the quick path holds at once (those
// of an object and of the objects around it).
const maxQuickKeys = 64

// quickNode is one compiled (sub)schema.
type quickNode struct {
	never bool   // the false schema
	gap   string // a keyword the quick path does not know: never quick
	types uint8  // allowed JSON types (0: any)
	enum  []any  // string, bool, nil or *big.Rat
	// enumStrings holds the enum's strings: a string is looked up once
	// rather than compared with each (an event's type is one of dozens).
	enumStrings map[string]bool
	hasConst    bool
	constV      any
	minLen      int // -1: none
	maxLen      int // -1: none
	pattern     *regexp.Regexp
	// patternDFA is pattern as an automaton over bytes (see pattern.go),
	// nil when only the regexp package can match it.
	patternDFA *patternDFA
	format     func([]byte) bool
	min, max   *big.Rat
	// minI, maxI are min and max when both (those set) are int64s.
	minI, maxI int64
	intBounds  bool
	members    map[string]quickMember
	nRequired  int
	addl       *quickNode // nil: any other member is allowed
	items      *quickNode
	minItems   int // -1: none
	maxItems   int // -1: none
	// unique: uniqueItems. The quick path checks it only on arrays of
	// strings without escapes, whose bytes are equal exactly when their
	// values are; any other array goes to the general validator.
	unique bool
	allOf  []*quickNode
	anyOf  []*quickNode
	oneOf  []*quickNode
	not    *quickNode
	alias  *quickNode // this node is that one
}

type quickMember struct {
	node *quickNode // nil: not in properties (then addl applies)
	bit  int        // its bit among the required members, or -1
}

const (
	tNull = 1 << iota
	tBool
	tNumber
	tInteger
	tString
	tArray
	tObject
)

var quickTypes = map[string]uint8{
	"null": tNull, "boolean": tBool, "number": tNumber | tInteger, "integer": tInteger,
	"string": tString, "array": tArray, "object": tObject,
}

// annotations are keywords that never refuse an instance.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$defs": true, "definitions": true, "$comment": true,
	"title": true, "description": true, "default": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true,
}

// quickCompiler compiles schema documents (as jsonschema.UnmarshalJSON
// reads them: numbers are json.Number) into quickNodes.
type quickCompiler struct {
	docs    map[string]any        // by URL without fragment
	done    map[string]*quickNode // by absolute URL with fragment
	formats map[string]*jsonschema.Schema
	// patterns holds each pattern's automaton, compiled once however many
	// schemas state it.
	patterns map[string]*patternDFA
	gaps     []string
	c        *jsonschema.Compiler
}

// compile returns the node of the schema at abs ("https://…/v1/x.json#/…").
func (qc *quickCompiler) compile(abs string) *quickNode {
	if n, ok := qc.done[abs]; ok {
		return n
	}
	n := &quickNode{}
	qc.done[abs] = n
	docURL, frag, _ := strings.Cut(abs, "#")
	doc, ok := qc.docs[docURL]
	if !ok {
		qc.gap(n, abs, "$ref to a document not loaded")
		return n
	}
	v, ok := pointer(doc, frag)
	if !ok {
		qc.gap(n, abs, "$ref to nothing")
		return n
	}
	qc.fill(n, docURL, abs, v)
	return n
}

func (qc *quickCompiler) gap(n *quickNode, at, what string) {
	if n.gap == "" {
		n.gap = what
	}
	qc.gaps = append(qc.gaps, at+": "+what)
}

func pointer(doc any, frag string) (any, bool) {
	if frag == "" || frag == "/" {
		return doc, true
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, false // an anchor
	}
	v := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

func (qc *quickCompiler) fill(n *quickNode, base, at string, v any) {
	n.minLen, n.maxLen, n.minItems, n.maxItems = -1, -1, -1, -1
	switch v := v.(type) {
	case bool:
		n.never = !v
		return
	case map[string]any:
	default:
		qc.gap(n, at, "a schema that is not an object")
		return
	}
	m := v.(map[string]any)
	defer func() {
		// A node that only refers to another (a $ref beside annotations)
		// is that node.
		if len(n.allOf) == 1 && n.gap == "" && reflect.DeepEqual(*n, quickNode{allOf: n.allOf, minLen: -1, maxLen: -1, minItems: -1, maxItems: -1}) {
			n.alias = n.allOf[0]
		}
		n.intBounds = true
		for _, b := range []struct {
			r  *big.Rat
			to *int64
		}{{n.min, &n.minI}, {n.max, &n.maxI}} {
			if b.r == nil {
				continue
			}
			if !b.r.IsInt() || !b.r.Num().IsInt64() {
				n.intBounds = false
				continue
			}
			*b.to = b.r.Num().Int64()
		}
	}()
	sub := func(key string, s any) *quickNode {
		c := &quickNode{}
		qc.fill(c, base, at+"/"+key, s)
		if c.gap != "" && n.gap == "" {
			n.gap = c.gap
		}
		return c
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kv := m[k]
		switch {
		case annotations[k] || strings.HasPrefix(k, "x-"):
			if k == "$id" && at != base+"#" && at != base {
				qc.gap(n, at, "$id below a document's root")
			}
		case k == "$ref":
			s, _ := kv.(string)
			ref, err := url.Parse(s)
			b, _ := url.Parse(base)
			if err != nil || b == nil {
				qc.gap(n, at, "$ref "+s)
				continue
			}
			r := qc.compile(b.ResolveReference(ref).String())
			n.allOf = append(n.allOf, r)
		case k == "type":
			switch t := kv.(type) {
			case string:
				n.types |= quickTypes[t]
			case []any:
				for _, e := range t {
					s, _ := e.(string)
					n.types |= quickTypes[s]
				}
			}
			if n.types == 0 {
				qc.gap(n, at, "type "+fmt.Sprint(kv))
			}
		case k == "enum":
			list, _ := kv.([]any)
			for _, e := range list {
				c, ok := constant(e)
				if !ok {
					qc.gap(n, at, "an enum value that is not a string, number, boolean or null")
				}
				n.enum = append(n.enum, c)
				if str, ok := c.(string); ok {
					if n.enumStrings == nil {
						n.enumStrings = map[string]bool{}
					}
					n.enumStrings[str] = true
				}
			}
			if list == nil {
				n.never = true
			}
		case k == "const":
			c, ok := constant(kv)
			if !ok {
				qc.gap(n, at, "a const that is not a string, number, boolean or null")
			}
			n.hasConst, n.constV = true, c
		case k == "minLength" || k == "maxLength" || k == "minItems" || k == "maxItems":
			i, ok := whole(kv)
			if !ok {
				qc.gap(n, at, k+" "+fmt.Sprint(kv))
				continue
			}
			switch k {
			case "minLength":
				n.minLen = i
			case "maxLength":
				n.maxLen = i
			case "minItems":
				n.minItems = i
			case "maxItems":
				n.maxItems = i
			}
		case k == "uniqueItems":
			b, ok := kv.(bool)
			if !ok {
				qc.gap(n, at, "uniqueItems "+fmt.Sprint(kv))
				continue
			}
			n.unique = b
		case k == "pattern":
			s, _ := kv.(string)
			re, err := regexp.Compile(s)
			if err != nil {
				qc.gap(n, at, "pattern "+s)
				continue
			}
			n.pattern = re
			d, ok := qc.patterns[s]
			if !ok {
				d = compilePattern(s)
				qc.patterns[s] = d
			}
			n.patternDFA = d
		case k == "format":
			s, _ := kv.(string)
			n.format = qc.format(n, at, s)
		case k == "minimum" || k == "maximum":
			r, ok := rat(kv)
			if !ok {
				qc.gap(n, at, k+" "+fmt.Sprint(kv))
				continue
			}
			if k == "minimum" {
				n.min = r
			} else {
				n.max = r
			}
		case k == "properties":
			props, _ := kv.(map[string]any)
			if n.members == nil {
				n.members = map[string]quickMember{}
			}
			for name, s := range props {
				mb, ok := n.members[name]
				if !ok {
					mb.bit = -1
				}
				mb.node = sub(k+"/"+name, s)
				n.members[name] = mb
			}
		case k == "required":
			list, _ := kv.([]any)
			if n.members == nil {
				n.members = map[string]quickMember{}
			}
			for _, e := range list {
				name, _ := e.(string)
				mb, ok := n.members[name]
				if !ok {
					mb.bit = -1
				}
				if mb.bit < 0 {
					mb.bit = n.nRequired
					n.nRequired++
				}
				n.members[name] = mb
			}
			if n.nRequired > 64 {
				qc.gap(n, at, "more than 64 required members")
			}
		case k == "additionalProperties":
			n.addl = sub(k, kv)
		case k == "items":
			n.items = sub(k, kv)
		case k == "allOf" || k == "anyOf" || k == "oneOf":
			list, _ := kv.([]any)
			for i, s := range list {
				c := sub(k+"/"+strconv.Itoa(i), s)
				switch k {
				case "allOf":
					n.allOf = append(n.allOf, c)
				case "anyOf":
					n.anyOf = append(n.anyOf, c)
				case "oneOf":
					n.oneOf = append(n.oneOf, c)
				}
			}
		case k == "not":
			n.not = sub(k, kv)
		default:
			qc.gap(n, at, "keyword "+k)
		}
	}
}

// format returns the check of a named format: the very check the general
// validator runs (crisisbus's date-time, or the library's own), so the two
// cannot differ.
func (qc *quickCompiler) format(n *quickNode, at, name string) func([]byte) bool {
	if name == "date-time" {
		return func(b []byte) bool { return dateTime(b) == nil }
	}
	s, ok := qc.formats[name]
	if !ok {
		loc := Base + "quick-format/" + url.PathEscape(name) + ".json"
		err := qc.c.AddResource(loc, map[string]any{"format": name})
		if err == nil {
			s, err = qc.c.Compile(loc)
		}
		if err != nil {
			qc.gap(n, at, "format "+name)
			return nil
		}
		qc.formats[name] = s
	}
	if !memoFormats[name] {
		return func(b []byte) bool { return s.Validate(string(b)) == nil }
	}
	// The library's check of a URI costs a microsecond; every event's
	// dataschema is one of a few dozen URLs, so its verdicts are kept.
	var mu sync.Mutex
	valid := map[string]bool{}
	return func(b []byte) bool {
		mu.Lock()
		ok, known := valid[string(b)]
		mu.Unlock()
		if known {
			return ok
		}
		str := string(b)
		ok = s.Validate(str) == nil
		mu.Lock()
		if len(valid) < maxMemo {
			valid[str] = ok
		}
		mu.Unlock()
		return ok
	}
}

// memoFormats are the formats whose verdicts the quick path keeps, at most
// maxMemo values each: names of schemas, never personal data (a date of
// birth is checked afresh every time).
var memoFormats = map[string]bool{"uri": true, "uri-reference": true, "iri": true}

const maxMemo = 256

func constant(v any) (any, bool) {
	switch v := v.(type) {
	case string, bool, nil:
		return v, true
	}
	if r, ok := rat(v); ok {
		return r, true
	}
	return nil, false
}

func whole(v any) (int, bool) {
	r, ok := rat(v)
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return int(r.Num().Int64()), true
}

func rat(v any) (*big.Rat, bool) {
	s := fmt.Sprint(v)
	if _, ok := v.(string); ok {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

// Quick reports whether raw is certainly a valid event: strict JSON (as
// Decode demands), the envelope schema, and its data the schema of its
// type, whose versioned name ("s136.detained.v1") versioned gives for the
// envelope's type. ok false says nothing: the general validator decides.
// member, when not nil, is given each of the envelope's members once it is
// checked: its name (valid only during the call) and its value's JSON
// text, so the caller can read the event in the same pass.
func (r *Registry) Quick(raw []byte, versioned func(typ string) (string, bool), member func(name, value []byte)) (typ string, ok bool) {
	if r.quickEnv == nil || r.quickEnv.gap != "" || !utf8.Valid(raw) {
		return "", false
	}
	s := quickScan{b: raw, top: true, member: member, r: r, versioned: versioned}
	s.ws()
	if !s.value(r.quickEnv, 0) {
		return "", false
	}
	s.ws()
	if s.i != len(raw) || s.data == nil || !s.typOK {
		return "", false
	}
	if !s.dataChecked && !s.checkData() {
		return "", false
	}
	return s.typ, true
}

// checkData checks the envelope's data against its type's schema.
func (s *quickScan) checkData() bool {
	name, ok := s.versioned(s.typ)
	if !ok {
		return false
	}
	n, ok := s.r.quickData[name]
	if !ok || n.gap != "" {
		return false
	}
	return quickMatch(n, s.data, 0)
}

// QuickGaps lists, for each schema, what the quick path cannot compile (and
// so leaves to the general validator): empty when every schema is quick.
func (r *Registry) QuickGaps() []string { return r.quickGaps }

// quickScan checks JSON text against a node in one pass. On any doubt it
// returns false.
type quickScan struct {
	b     []byte
	i     int
	top   bool // capture the envelope's type and data
	typ   string
	typOK bool
	data  []byte
	buf   []byte
	// member is given each envelope member's name and value (see Quick).
	member func(name, value []byte)
	name   []byte
	// The envelope's data, checked against its type's schema as soon as
	// both are known.
	r           *Registry
	versioned   func(typ string) (string, bool)
	dataChecked bool
	// keys holds the member names of the objects being read, to refuse a
	// name given twice (see checkStrict).
	keys  [maxQuickKeys][]byte
	nkeys int
}

func (s *quickScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value checks the value at s.i (after whitespace) against n, and moves
// past it.
func (s *quickScan) value(n *quickNode, depth int) bool {
	if depth > maxQuickDepth {
		return false
	}
	for n != nil && n.alias != nil {
		n = n.alias
	}
	if n != nil && (n.never || n.gap != "") {
		return false
	}
	start := s.i
	if n != nil && (len(n.allOf) > 0 || len(n.anyOf) > 0 || len(n.oneOf) > 0 || n.not != nil) {
		end, ok := s.skip(depth)
		if !ok {
			return false
		}
		v := s.b[start:end]
		for _, c := range n.allOf {
			if !quickMatch(c, v, depth) {
				return false
			}
		}
		if len(n.anyOf) > 0 && !slices.ContainsFunc(n.anyOf, func(c *quickNode) bool { return quickMatch(c, v, depth) }) {
			return false
		}
		if len(n.oneOf) > 0 {
			matched := 0
			for _, c := range n.oneOf {
				if quickMatch(c, v, depth) {
					matched++
				}
			}
			if matched != 1 {
				return false
			}
		}
		if n.not != nil && quickMatch(n.not, v, depth) {
			return false
		}
		s.i = start
	}
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(n, depth)
	case c == '[':
		return s.array(n, depth)
	case c == '"':
		str, ok := s.str()
		return ok && n.str(str)
	case c == 't':
		return s.lit("true") && n.scalar(tBool, true)
	case c == 'f':
		return s.lit("false") && n.scalar(tBool, false)
	case c == 'n':
		return s.lit("null") && n.scalar(tNull, nil)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(n)
	}
	return false
}

// quickMatch checks a whole value's bytes against n.
func quickMatch(n *quickNode, v []byte, depth int) bool {
	if n.gap != "" {
		return false
	}
	s := quickScan{b: v}
	return s.value(n, depth+1) && s.i == len(v)
}

// skip moves past the value at s.i, checking only its syntax, and returns
// where it ends.
func (s *quickScan) skip(depth int) (int, bool) {
	save := s.top
	s.top = false
	ok := s.value(nil, depth)
	s.top = save
	return s.i, ok
}

func (s *quickScan) lit(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

func (n *quickNode) allows(t uint8) bool { return n == nil || n.types == 0 || n.types&t != 0 }

func (n *quickNode) scalar(t uint8, v any) bool {
	if n == nil {
		return true
	}
	if !n.allows(t) {
		return false
	}
	if n.enum != nil && !slices.Contains(n.enum, v) {
		return false
	}
	return !n.hasConst || n.constV == v
}

func (n *quickNode) str(v []byte) bool {
	if n == nil {
		return true
	}
	if !n.allows(tString) {
		return false
	}
	if n.enum != nil && !n.enumStrings[string(v)] {
		return false
	}
	if n.hasConst {
		if cs, ok := n.constV.(string); !ok || cs != string(v) {
			return false
		}
	}
	if n.minLen >= 0 || n.maxLen >= 0 {
		l := utf8.RuneCount(v)
		if l < n.minLen || (n.maxLen >= 0 && l > n.maxLen) {
			return false
		}
	}
	if n.patternDFA != nil {
		if !n.patternDFA.match(v) {
			return false
		}
	} else if n.pattern != nil && !n.pattern.Match(v) {
		return false
	}
	return n.format == nil || n.format(v)
}

// str reads the string at s.i, returning its unescaped bytes (the raw bytes
// when it has no escape; valid only until the next string).
func (s *quickScan) str() ([]byte, bool) {
	s.i++ // "
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			s.i++
			return s.b[start : s.i-1], true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, false
		}
		s.i++
	}
	out := append(s.buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			s.buf = out
			return out, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, false
		}
		switch e := s.b[s.i+1]; e {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			out = append(out, unescape(e))
			s.i += 2
		case 'u':
			r, ok := hex4(s.b, s.i+2)
			if !ok {
				return nil, false
			}
			s.i += 6
			if r >= 0xD800 && r <= 0xDFFF { // a pair, or refused by checkStrict
				lo, ok := rune(0), false
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					lo, ok = hex4(s.b, s.i+2)
				}
				if r > 0xDBFF || !ok || lo < 0xDC00 || lo > 0xDFFF {
					return nil, false
				}
				s.i += 6
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
	}
	return nil, false
}

// plainInt reads a number written as at most 18 plain digits.
func plainInt(text []byte) (int64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	if neg {
		text = text[1:]
	}
	if len(text) == 0 || len(text) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range text {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// number reads a JSON number and checks it against n.
func (s *quickScan) number(n *quickNode) bool {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		k := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		return s.i - k
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return false
		}
	}
	if n == nil {
		return true
	}
	text := s.b[start:s.i]
	if i, ok := plainInt(text); ok && n.enum == nil && !n.hasConst && n.intBounds {
		return n.allows(tInteger) && (n.min == nil || i >= n.minI) && (n.max == nil || i <= n.maxI)
	}
	if len(text) > 40 {
		return false // leave long numbers (and huge exponents) to the general validator
	}
	v, ok := new(big.Rat).SetString(string(text))
	if !ok {
		return false
	}
	t := uint8(tNumber)
	if v.IsInt() {
		t |= tInteger
	}
	if !n.allows(t) {
		return false
	}
	if n.enum != nil && !slices.ContainsFunc(n.enum, func(e any) bool { r, ok := e.(*big.Rat); return ok && r.Cmp(v) == 0 }) {
		return false
	}
	if n.hasConst {
		if r, ok := n.constV.(*big.Rat); !ok || r.Cmp(v) != 0 {
			return false
		}
	}
	return (n.min == nil || v.Cmp(n.min) >= 0) && (n.max == nil || v.Cmp(n.max) <= 0)
}

func (s *quickScan) array(n *quickNode, depth int) bool {
	if !n.allows(tArray) || (n != nil && (n.enum != nil || n.hasConst)) {
		return false
	}
	var items *quickNode
	if n != nil {
		items = n.items
	}
	top := s.top
	s.top = false
	ok := s.elements(n, items, depth)
	s.top = top
	return ok
}

func (s *quickScan) elements(n, items *quickNode, depth int) bool {
	s.i++ // [
	count := 0
	var seen map[string]bool
	if n != nil && n.unique {
		seen = map[string]bool{}
	}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
	} else {
		for {
			s.ws()
			start := s.i
			if !s.value(items, depth+1) {
				return false
			}
			if seen != nil {
				raw := s.b[start:s.i]
				if len(raw) == 0 || raw[0] != '"' || bytes.IndexByte(raw, '\\') >= 0 || seen[string(raw)] {
					return false // a repeat, or a value only the general validator compares
				}
				seen[string(raw)] = true
			}
			count++
			s.ws()
			if s.i >= len(s.b) {
				return false
			}
			if s.b[s.i] == ']' {
				s.i++
				break
			}
			if s.b[s.i] != ',' {
				return false
			}
			s.i++
		}
	}
	return n == nil || ((n.minItems < 0 || count >= n.minItems) && (n.maxItems < 0 || count <= n.maxItems))
}

func (s *quickScan) object(n *quickNode, depth int) bool {
	if !n.allows(tObject) || (n != nil && (n.enum != nil || n.hasConst)) {
		return false
	}
	top := s.top
	s.top = false
	first := s.nkeys
	ok := s.members(n, depth, top, first)
	s.top = top
	s.nkeys = first
	return ok
}

func (s *quickScan) members(n *quickNode, depth int, top bool, first int) bool {
	s.i++ // {
	var seen uint64
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return n == nil || n.nRequired == 0
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		kstart := s.i
		key, ok := s.str()
		// A name with an escape, or one of many, is left to checkStrict.
		if !ok || s.nkeys == maxQuickKeys || bytes.IndexByte(s.b[kstart:s.i], '\\') >= 0 {
			return false
		}
		for _, k := range s.keys[first:s.nkeys] {
			if bytes.Equal(k, key) {
				return false
			}
		}
		s.keys[s.nkeys] = key
		s.nkeys++
		var child *quickNode
		if n != nil {
			mb, ok := n.members[string(key)]
			switch {
			case ok && mb.node != nil:
				child = mb.node
			case n.addl != nil:
				child = n.addl
			}
			if ok && mb.bit >= 0 {
				seen |= 1 << mb.bit
			}
		}
		var capture int // 1: the type, 2: the data, 3: another member
		if top {
			switch string(key) {
			case "type":
				capture = 1
			case "data":
				capture = 2
			default:
				capture = 3
			}
			s.name = append(s.name[:0], key...)
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		vstart := s.i
		if !s.value(child, depth+1) {
			return false
		}
		switch capture {
		case 1:
			t, ok := s.stringAt(vstart)
			s.typ, s.typOK = t, ok
		case 2:
			s.data = s.b[vstart:s.i]
			if s.typOK {
				if !s.checkData() {
					return false
				}
				s.dataChecked = true
			}
		}
		if capture != 0 && s.member != nil {
			s.member(s.name, s.b[vstart:s.i])
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		if s.b[s.i] == '}' {
			s.i++
			break
		}
		if s.b[s.i] != ',' {
			return false
		}
		s.i++
	}
	return n == nil || seen == 1<<n.nRequired-1
}

// stringAt returns the string value at start, unescaped.
func (s *quickScan) stringAt(start int) (string, bool) {
	if start >= len(s.b) || s.b[start] != '"' {
		return "", false
	}
	t := quickScan{b: s.b, i: start}
	v, ok := t.str()
	return string(v), ok
}
