package events

import (
	"time"
)

// Writing an envelope without reflection. Every publish writes its event
// out and checks it; encoding/json's reflection, its compaction of data and
// the reading back of what it wrote cost more than the check itself. So
// appendEvent writes the envelope directly, in the order and the form
// json.Marshal gives, whenever the bytes are certainly the same: every
// string plain printable ASCII (nothing json.Marshal would escape), the
// time in UTC within the years json.Marshal writes, and data already
// compact, without a character json.Marshal would escape. Anything else
// (rare: a name with an accent, data with spaces) is written by
// json.Marshal as before. A test holds the two to the same bytes.

// appendEvent appends e's JSON, exactly as json.Marshal writes it; ok false
// when it cannot be sure of that (and then appends nothing).
func appendEvent(b []byte, e *Event) ([]byte, bool) {
	if y := e.Time.Year(); y < 0 || y >= 10000 || e.Time.Location() != time.UTC || !plainData(e.Data) {
		return b, false
	}
	start := len(b)
	ok := true
	str := func(name string, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		if !plain(v) {
			ok = false
			return
		}
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':', '"')
		b = append(b, v...)
		b = append(b, '"')
	}
	if !plain(e.SpecVersion) {
		return b, false
	}
	b = append(b, `{"specversion":"`...)
	b = append(b, e.SpecVersion...)
	b = append(b, '"')
	str("id", e.ID, false)
	str("source", string(e.Source), false)
	str("type", e.Type, false)
	str("subject", e.Subject, false)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	str("datacontenttype", e.DataContentType, false)
	str("dataschema", e.DataSchema, false)
	str("correlationid", e.CorrelationID, true)
	str("causationid", e.CausationID, true)
	str("actor", e.Actor, true)
	str("purpose", e.Purpose, true)
	str("legalbasis", e.LegalBasis, true)
	str("toagency", string(e.ToAgency), true)
	str("traceparent", e.TraceParent, true)
	str("tracestate", e.TraceState, true)
	if !ok {
		return b[:start], false
	}
	b = append(b, `,"data":`...)
	b = append(b, e.Data...)
	b = append(b, '}')
	return b, true
}

// encodedSize is about the length of e's JSON, a little over: the
// members' names and punctuation (under 256 bytes) and the values.
func encodedSize(e *Event) int {
	return 256 + len(e.SpecVersion) + len(e.ID) + len(e.Source) + len(e.Type) + len(e.Subject) + len(time.RFC3339Nano) +
		len(e.DataContentType) + len(e.DataSchema) + len(e.CorrelationID) + len(e.CausationID) + len(e.Actor) +
		len(e.Purpose) + len(e.LegalBasis) + len(e.ToAgency) + len(e.TraceParent) + len(e.TraceState) + len(e.Data)
}

// plain reports whether json.Marshal writes s unchanged between quotes:
// printable ASCII without a quote, a backslash or an HTML-special
// character (which json.Marshal escapes).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// plainData reports whether json.Marshal writes data (valid JSON, which
// the check after writing establishes) unchanged: not empty, no whitespace
// outside its strings for it to compact away, no character it escapes (<,
// >, &, and U+2028 and U+2029, which start with the byte 0xE2).
func plainData(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	inString := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '<' || c == '>' || c == '&' || c == 0xe2:
			return false
		case inString:
			if c == '\\' {
				i++ // the escaped character
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return true
}
