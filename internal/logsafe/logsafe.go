// Package logsafe says what went wrong without saying what was submitted.
// An error's text may quote a request's values (an NHS number that fails
// its check digit, a date of birth, a person's own words): those go back to
// the person who sent them, and are stored encrypted, but never into the
// operators' logs. Log with Cause and ID instead of zap.Error and raw ids.
package logsafe

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cause names the kind of err, never its text: a timeout, a NATS or
// JetStream error by its code, else the Go type of the innermost error.
func Cause(err error) string {
	var api *jetstream.APIError
	switch {
	case err == nil:
		return ""
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
		return fmt.Sprintf("jetstream error %d (status %d)", api.ErrorCode, api.Code)
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}

// ID returns s when it is a UUID (crisisbus's episode, event and handoff
// ids), else "": a field meant for an id may hold anything a person typed.
func ID(s string) string {
	if _, err := uuid.Parse(s); err != nil || len(s) != 36 {
		return ""
	}
	return s
}
