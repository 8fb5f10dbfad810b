package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The contract refuses JSON that two readers could read differently, because
// every agency's system reads the same stored bytes and must agree on what
// they say. JSON Schema validators, Go's encoding/json and most other
// parsers quietly keep the last of two equal keys, replace invalid UTF-8 and
// lone surrogates with U+FFFD, and differ on the rest; so a message with
// "locationType" twice could be validated as one place and acted on as
// another. Decode therefore refuses, with the offending JSON pointer:
//
//   - text that is not valid UTF-8;
//   - an object with the same key twice (after unescaping: "a" and "\u0061"
//     are the same key), anywhere in the event;
//   - a \u escape that is half of a UTF-16 surrogate pair ("\ud800").

// maxDepth is how deeply objects and arrays may nest (as encoding/json).
const maxDepth = 10000

// checkUTF8 refuses text that is not UTF-8, naming the first bad byte.
func checkUTF8(raw []byte) error {
	if !utf8.Valid(raw) {
		at := 0
		for at < len(raw) {
			r, n := utf8.DecodeRune(raw[at:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			at += n
		}
		return &Error{Schema: EnvelopeURL, Problems: []string{fmt.Sprintf("/: not valid UTF-8 (byte %d)", at)}}
	}
	return nil
}

// checkStrict reports the first thing in raw, syntactically valid JSON,
// that readers could disagree on.
func checkStrict(raw []byte) error {
	s := strictScanner{b: raw}
	if err := s.value(0); err != nil {
		return &Error{Schema: EnvelopeURL, Problems: []string{s.pointer() + ": " + err.Error()}}
	}
	return nil
}

// strictScanner walks JSON already known to be syntactically valid; on
// anything else it stops without panicking.
type strictScanner struct {
	b    []byte
	i    int
	path []step // where the scanner is, for the error's JSON pointer
}

type step struct {
	key   []byte // the member's name, or nil in an array
	index int
}

func (s *strictScanner) pointer() string {
	if len(s.path) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, p := range s.path {
		b.WriteByte('/')
		if p.key == nil {
			b.WriteString(strconv.Itoa(p.index))
			continue
		}
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(string(p.key)))
	}
	return b.String()
}

func (s *strictScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

var errTruncated = errors.New("not valid JSON")

func (s *strictScanner) value(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nested more than %d deep", maxDepth)
	}
	s.ws()
	if s.i >= len(s.b) {
		return errTruncated
	}
	switch s.b[s.i] {
	case '{':
		return s.object(depth + 1)
	case '[':
		return s.array(depth + 1)
	case '"':
		_, err := s.str(false)
		return err
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', ']', '}', ' ', '\t', '\r', '\n':
			return nil
		}
		s.i++
	}
	return nil
}

// smallObject is how many keys are compared pairwise before a map is used.
const smallObject = 16

func (s *strictScanner) object(depth int) error {
	s.i++ // {
	var small [smallObject + 1][]byte
	keys := small[:0]
	var seen map[string]struct{}
	for {
		s.ws()
		if s.i >= len(s.b) {
			return errTruncated
		}
		switch s.b[s.i] {
		case '}':
			s.i++
			return nil
		case ',':
			s.i++
			continue
		case '"':
		default:
			return errTruncated
		}
		key, err := s.str(true)
		if err != nil {
			return err
		}
		dup := false
		if seen != nil {
			_, dup = seen[string(key)]
			seen[string(key)] = struct{}{}
		} else {
			for _, k := range keys {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			keys = append(keys, key)
			if len(keys) > smallObject {
				seen = make(map[string]struct{}, 2*len(keys))
				for _, k := range keys {
					seen[string(k)] = struct{}{}
				}
			}
		}
		s.path = append(s.path, step{key: key})
		if dup {
			return fmt.Errorf("duplicate key %q: an object may name each member once", key)
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return errTruncated
		}
		s.i++
		if err := s.value(depth); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
	}
}

func (s *strictScanner) array(depth int) error {
	s.i++ // [
	n := 0
	for {
		s.ws()
		if s.i >= len(s.b) {
			return errTruncated
		}
		switch s.b[s.i] {
		case ']':
			s.i++
			return nil
		case ',':
			s.i++
			continue
		}
		s.path = append(s.path, step{index: n})
		if err := s.value(depth); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		n++
	}
}

// str reads the string at s.i, refusing lone surrogates. With decode it
// returns the string's unescaped bytes (the raw bytes when there is no
// escape).
func (s *strictScanner) str(decode bool) ([]byte, error) {
	s.i++ // opening quote
	start := s.i
	var out []byte // unescaped, once an escape is met
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if out != nil {
				return out, nil
			}
			return raw, nil
		case c != '\\':
			if out != nil {
				out = append(out, c)
			}
			s.i++
			continue
		}
		if out == nil && decode {
			out = append([]byte{}, s.b[start:s.i]...)
		}
		if s.i+1 >= len(s.b) {
			return nil, errTruncated
		}
		esc := s.b[s.i+1]
		if esc != 'u' {
			if out != nil {
				out = append(out, unescape(esc))
			}
			s.i += 2
			continue
		}
		r, ok := hex4(s.b, s.i+2)
		if !ok {
			return nil, errTruncated
		}
		s.i += 6
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return nil, fmt.Errorf(`lone surrogate \u%04x: a \u escape of U+D800 to U+DFFF must be a high and low surrogate pair`, r)
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := rune(0), false
			if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
				lo, ok = hex4(s.b, s.i+2)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return nil, fmt.Errorf(`lone surrogate \u%04x: a \u escape of U+D800 to U+DFFF must be a high and low surrogate pair`, r)
			}
			s.i += 6
			r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
		}
		if out != nil {
			out = utf8.AppendRune(out, r)
		}
	}
	return nil, errTruncated
}

func unescape(c byte) byte {
	switch c {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return c // " \ /
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Plausible times. Every date-time the contract carries (the envelope's
// time and every date-time in data) must be read by Go's time.Time exactly
// as JSON decoding reads it (RFC 3339, upper-case T and Z) and lie from
// EarliestTime to before LatestTime: the partnership's historical data goes
// back to 2015, and a year such as 0001 or 9999 is a fault (a zero value, a
// placeholder, a typing slip) that would start or stop a legal clock.
var (
	EarliestTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	LatestTime   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// validateDateTime is the contract's "date-time" format.
func validateDateTime(v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	return dateTime([]byte(s))
}

// dateTime is validateDateTime of a string's bytes (the quick path's).
func dateTime(b []byte) error {
	var t time.Time
	if err := t.UnmarshalText(b); err != nil {
		return errors.New("not an RFC 3339 date-time such as 2015-05-01T10:00:00Z")
	}
	if t.Before(EarliestTime) || !t.Before(LatestTime) {
		return fmt.Errorf("year %d is implausible: a time must be from %d-01-01 to %d-12-31 (UTC)",
			t.UTC().Year(), EarliestTime.Year(), LatestTime.Year()-1)
	}
	return nil
}
