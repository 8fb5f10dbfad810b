package events

import (
	"errors"
	"fmt"
)

// Kind says what sort of refusal or fault an error is, in the domain's own
// terms. The domain (this package, the episode fold, the law) never speaks
// of status codes: the edge (services/rpc for commands, the console for its
// pages) maps each kind to one.
type Kind string

// Kinds of error.
const (
	// Invalid: what was asked is malformed or incomplete; the caller can fix it.
	Invalid Kind = "invalid"
	// Forbidden: the law, or the agency's part in the episode, forbids it.
	Forbidden Kind = "forbidden"
	// NotFound: no such episode or handoff.
	NotFound Kind = "not_found"
	// Conflict: the episode's state forbids it now (closed, owned by
	// another agency, changed since it was read).
	Conflict Kind = "conflict"
	// Unavailable: the store or a service cannot take it just now; nobody's
	// mistake, and it passes once the operator acts.
	Unavailable Kind = "unavailable"
	// Internal: a fault, not the caller's mistake.
	Internal Kind = "internal"
)

// Error is a refusal of a given kind with a sentence saying what was wrong.
// Compare sentinels with errors.Is; wrap one with %w to keep its kind.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

// Refusal returns a refusal sentinel of the given kind.
func Refusal(kind Kind, msg string) *Error { return &Error{Kind: kind, Message: msg} }

// Errorf returns a refusal of the given kind; %w in format keeps the
// wrapped error reachable with errors.Is, and the outer kind wins.
func Errorf(kind Kind, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct {
	kind Kind
	err  error
}

func (k *kindError) Error() string { return k.err.Error() }
func (k *kindError) Unwrap() error { return k.err }

// KindOf returns the kind of err (Kinded), Internal when it has none, and
// "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	if k, ok := Kinded(err); ok {
		return k
	}
	return Internal
}

// Kinded returns the kind err was given: the outermost kind given with
// Errorf, else that of a wrapped *Error, else Invalid for a value that
// cannot go into a subject or key (ErrBadToken: it came from the caller).
func Kinded(err error) (Kind, bool) {
	var k *kindError
	if errors.As(err, &k) {
		return k.kind, true
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	if errors.Is(err, ErrBadToken) {
		return Invalid, true
	}
	return "", false
}
