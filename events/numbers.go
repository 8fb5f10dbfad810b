package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// The contract's integers are JSON Schema integers: any number with no
// fractional part, however it is written. 34, 34.0, 3.4e1 and 340e-1 are
// all the integer 34, and an integrator's JSON library may write any of them
// (a float-typed language writes 34.0). Go's encoding/json reads only the
// plain digits into an int, so decoding falls back to rewriting each
// integral number as plain digits and reading again. Every integer property
// of the schemas has a maximum well inside the range of int, so every value
// the schema accepts decodes.

// unmarshalData decodes data into v, accepting every integral JSON number
// for an integer field.
func unmarshalData(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	var te *json.UnmarshalTypeError
	if err == nil || !errors.As(err, &te) || !strings.HasPrefix(te.Value, "number") {
		return err
	}
	plain, changed, cerr := plainIntegers(data)
	if cerr != nil || !changed {
		return err
	}
	return json.Unmarshal(plain, v)
}

// plainIntegers rewrites every integral number in data that is not plain
// digits (34.0, 3.4e1) as plain digits; changed is false when none is.
func plainIntegers(data []byte) ([]byte, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, false, err
	}
	changed := false
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		case json.Number:
			if s, ok := integral(string(x)); ok && s != string(x) {
				changed = true
				return json.Number(s)
			}
		}
		return v
	}
	doc = walk(doc)
	if !changed {
		return data, false, nil
	}
	out, err := json.Marshal(doc)
	return out, true, err
}

// maxIntDigits bounds the digits of an integer rewritten (int64 has 19).
const maxIntDigits = 19

// integral returns the JSON number s as plain decimal digits when it is an
// integer of at most maxIntDigits digits. It never builds a number larger
// than that, whatever the exponent says (1e999999999 is refused, cheaply).
func integral(s string) (string, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 1000 || e < -1000 {
			return "", false
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	point := len(intPart) + exp - (len(intPart+frac) - len(digits)) // digits before the decimal point
	if digits == "" {
		return "0", true
	}
	if point < len(digits) {
		if strings.Trim(digits[max(point, 0):], "0") != "" {
			return "", false // a fractional part
		}
		digits = digits[:max(point, 0)]
	} else {
		if point > maxIntDigits {
			return "", false
		}
		digits += strings.Repeat("0", point-len(digits))
	}
	if digits == "" {
		return "0", true
	}
	if len(digits) > maxIntDigits {
		return "", false
	}
	if neg {
		return "-" + digits, true
	}
	return digits, true
}
