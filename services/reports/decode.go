package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// decode reads the members of a stored event the reports count, and stops
// with errNotCounted at the type of an event they do not count. A replay
// of a million events spends most of its time here, so rather than
// reflecting over the whole document with encoding/json it walks the
// object's members once and converts only those it wants; decode_test.go
// checks it against encoding/json on every example of the contract.
func decode(raw []byte, e *envelope) error {
	return members(raw, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "id":
			e.ID, err = str(val)
		case "source":
			var s string
			s, err = intern(val)
			e.Source = events.Agency(s)
		case "type":
			if e.Type, err = intern(val); err == nil && !counted[e.Type] {
				return errNotCounted // nothing further to read
			}
		case "subject":
			e.Subject, err = str(val)
		case "time":
			e.Time, err = timestamp(val)
		case "toagency":
			var s string
			s, err = intern(val)
			e.ToAgency = events.Agency(s)
		case "data":
			err = members(val, func(key, val []byte) error { return decodeData(key, val, e) })
		}
		if err != nil && err != errNotCounted {
			return fmt.Errorf("/%s: %w", key, err)
		}
		return err
	})
}

func decodeData(key, val []byte, e *envelope) error {
	d := &e.Data
	var err error
	var s string
	switch string(key) {
	case "outcome":
		d.Outcome, err = str(val)
	case "completedAt":
		d.CompletedAt, err = timestamp(val)
	case "cause":
		d.Cause, err = str(val)
	case "s136Avoided":
		d.S136Avoided, err = boolean(val)
	case "detainedAt":
		d.DetainedAt, err = timestamp(val)
	case "ageYears":
		var n int
		if n, err = strconv.Atoi(string(val)); err == nil {
			d.AgeYears = &n
		}
	case "keptWhereTheyAre":
		d.KeptWhereTheyAre, err = boolean(val)
	case "arrivedAt":
		d.ArrivedAt, err = timestamp(val)
	case "placeType":
		s, err = str(val)
		d.PlaceType = events.PlaceType(s)
	case "policeStation": // rare (an arrival at a police station): read whole
		var c events.PoliceStationConditions
		if err = json.Unmarshal(val, &c); err == nil {
			d.PoliceStation = &c
		}
	case "hours":
		d.Hours, err = strconv.Atoi(string(val))
	case "reason":
		d.Reason, err = str(val)
	case "superintendentApproval":
		d.SuperintendentApproval, err = str(val)
	case "extendedAt":
		d.ExtendedAt, err = timestamp(val)
	case "releasedAt":
		d.ReleasedAt, err = timestamp(val)
	case "kind":
		s, err = str(val)
		d.Kind = events.HandoffKind(s)
	case "how":
		d.How, err = str(val)
	case "haven":
		d.Haven, err = str(val)
	case "taken":
		d.Taken, err = boolean(val)
	case "leftAt":
		d.LeftAt, err = timestamp(val)
	case "handoffId":
		d.HandoffID, err = str(val)
	}
	if err != nil {
		return fmt.Errorf("data/%s: %w", key, err)
	}
	return nil
}

var (
	errSyntax     = errors.New("not a JSON object")
	errNotCounted = errors.New("a type the reports do not count")
)

func ws(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// members calls f with each member of the JSON object b: the key as
// written (crisisbus keys need no unescaping) and the value's raw bytes.
func members(b []byte, f func(key, val []byte) error) error {
	i := ws(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errSyntax
	}
	i = ws(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errSyntax
		}
		end, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i+1 : end-1]
		i = ws(b, end)
		if i >= len(b) || b[i] != ':' {
			return errSyntax
		}
		i = ws(b, i+1)
		end, err = skipValue(b, i)
		if err != nil {
			return err
		}
		if err := f(key, b[i:end]); err != nil {
			return err
		}
		i = ws(b, end)
		if i >= len(b) {
			return errSyntax
		}
		if b[i] == '}' {
			return nil
		}
		if b[i] != ',' {
			return errSyntax
		}
		i = ws(b, i+1)
	}
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errSyntax
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errSyntax
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errSyntax
	}
	return j, nil
}

// interned are the strings every event repeats (types and agencies), so
// decoding them allocates nothing.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, s := range events.Catalogue() {
		m[s.Type()] = s.Type()
	}
	for _, a := range events.Publishers {
		m[string(a)] = string(a)
	}
	return m
}()

// intern decodes a JSON string, returning the shared copy of a known one.
func intern(v []byte) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		if s, ok := interned[string(v[1:len(v)-1])]; ok {
			return s, nil
		}
	}
	return str(v)
}

// str decodes a JSON string, unescaping only when it has to.
func str(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("want a string, got %.20s", v)
	}
	for _, c := range v[1 : len(v)-1] {
		if c == '\\' {
			var s string
			err := json.Unmarshal(v, &s)
			return s, err
		}
	}
	return string(v[1 : len(v)-1]), nil
}

func timestamp(v []byte) (time.Time, error) {
	s, err := str(v)
	if err != nil {
		return time.Time{}, err
	}
	return time.Parse(time.RFC3339Nano, s)
}

func boolean(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, got %.20s", v)
}
