// Package logsafe says what went wrong without saying what was submitted.
// An error's text may quote a request's values (an NHS number that fails
// its check digit, a date of birth, a person's own words): those go back to
// the person who sent them, and are stored encrypted, but never into the
// operators' logs. Log with Cause and ID instead of zap.Error and raw ids.
package logsafe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
)

// Fixed is an error whose words are fixed, holding nothing anyone
// submitted: Cause gives them as they are.
type Fixed interface {
	error
	FixedWords() string
}

// Cause names the kind of err in words, never its text: a timeout, a NATS
// or JetStream error by its code, a refusal by its kind, a file or network
// fault by what the system said of it, malformed JSON, an error's own fixed
// words (Fixed); never a Go type.
func Cause(err error) string {
	var api *jetstream.APIError
	var fixed Fixed
	var errno syscall.Errno
	var syntax *json.SyntaxError
	var shape *json.UnmarshalTypeError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &fixed):
		return fixed.FixedWords()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, nats.ErrNoResponders):
		return "no service answered"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected):
		return "connection to NATS lost"
	case errors.Is(err, nats.ErrMaxPayload) || strings.Contains(err.Error(), nats.ErrMaxPayload.Error()):
		return "larger than the bus carries in one message (nats: maximum payload exceeded)"
	case errors.As(err, &api):
		if words, ok := storeWords[api.ErrorCode]; ok {
			return fmt.Sprintf("%s (jetstream error %d, status %d)", words, api.ErrorCode, api.Code)
		}
		return fmt.Sprintf("jetstream error %d (status %d)", api.ErrorCode, api.Code)
	}
	if kind, ok := events.Kinded(err); ok && kind != events.Internal {
		return kindWords[kind]
	}
	switch {
	case errors.As(err, &errno):
		return errno.Error() // the system's words: "no such file or directory", "connection refused"
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON (cut short, or not JSON)"
	case errors.As(err, &shape):
		return "JSON of the wrong shape (a value of the wrong type)"
	}
	return "an error of no known kind (its text may quote what a person submitted, so it is not logged)"
}

// storeWords are the server's refusals of a write the store cannot take
// (JSInsufficientResourcesErr, JSStorageResourcesExceededErr,
// JSStreamStoreFailedF), in words: an operator reading the log of a
// refused command learns the store is out of room, not a number. (The
// server's own description is not logged: some quote what was written.)
var storeWords = map[jetstream.ErrorCode]string{
	10023: "insufficient resources: the store cannot take a write (its disk full, or the store stopped)",
	10047: "storage resources exceeded: the store is at its limit",
	10077: "the store failed to write",
}

// JSONFault says in words what is wrong with a file's JSON and where, when
// err is a decoding error (ok false otherwise): for a file an operator
// keeps (the users file, the credentials file), whose values it names
// nowhere.
func JSONFault(err error) (_ string, ok bool) {
	var syntax *json.SyntaxError
	var shape *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("%s at byte %d", Cause(err), syntax.Offset), true
	case errors.As(err, &shape):
		want := jsonKind(shape.Type.Kind().String())
		where := "one of its values is"
		switch {
		case shape.Field != "":
			where = shape.Field + " is"
		case want == "an object" || want == "an array":
			where = "the whole file is"
		}
		return fmt.Sprintf("%s: %s %s, where %s belongs", Cause(err), where, article(shape.Value), want), true
	}
	return "", false
}

// article is "a number", "an array", … for a JSON value's kind as the
// decoder names it.
func article(v string) string {
	if v != "" && strings.ContainsRune("aeiou", rune(v[0])) {
		return "an " + v
	}
	return "a " + v
}

// jsonKind is what JSON holds for a Go kind.
func jsonKind(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return "a number"
}

// kindWords says each kind of refusal as an operator reads it.
var kindWords = map[events.Kind]string{
	events.Invalid:     "refused: malformed or incomplete",
	events.Forbidden:   "refused: forbidden by law or by the agency's part in the episode",
	events.NotFound:    "refused: unknown episode or handoff",
	events.Conflict:    "refused: the episode's state forbids it now",
	events.Unavailable: "the store or a service cannot take it just now",
}

// ID returns s when it is a UUID (crisisbus's episode, event and handoff
// ids), else "": a field meant for an id may hold anything a person typed.
func ID(s string) string {
	if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
		return ""
	}
	return s
}
