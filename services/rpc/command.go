package rpc

import (
	"context"
	"errors"
	"reflect"
	"strings"

	"github.com/nats-io/nats.go/micro"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events"
)

// Command is one command a service answers: its subject, the Go types it
// decodes and answers with (events.Command, what the contract publishes),
// and its handler. A service lists its commands once; Serve registers that
// list, and the contract (schemas/commands/, the AsyncAPI document) is
// generated from the same list, so what is published is what is decoded.
type Command struct {
	events.Command
	name   string
	handle func(ctx context.Context, log *zap.Logger, g micro.Group, name, subject string) error
	decode func(data []byte) error
}

// Decode reads a request body as the command's endpoint does before its
// handler runs (see Decode), and says why it would be refused.
func (c Command) Decode(data []byte) error { return c.decode(data) }

// Handle declares a command answering on subject (relative to the
// service's prefix, see Under) with h: a request that does not decode into
// Req (or has unknown fields), or whose Validate fails, is refused with
// BadRequest before h runs.
func Handle[Req, Resp any](subject string, h func(context.Context, Req) (Resp, error)) Command {
	c := Command{
		Command: events.Command{Subject: subject, Request: reflect.TypeFor[Req](), Response: reflect.TypeFor[Resp]()},
		handle: func(ctx context.Context, log *zap.Logger, g micro.Group, name, subject string) error {
			return Endpoint(ctx, log, g, name, subject, h)
		},
	}
	c.decode = func(data []byte) error {
		_, err := Decode[Req](c.Subject, data)
		return err
	}
	return c
}

// For marks the command as one served for agency a (a token of its
// subject): the contract describes the same command of every agency once,
// with the agency as a parameter.
func (c Command) For(a events.Agency) Command {
	c.Agency = a
	return c
}

// Under puts cmds under the subject prefix (e.g. "crisisbus.police"), the
// agency a (when not empty) being the one their subjects name.
func Under(prefix string, a events.Agency, cmds []Command) []Command {
	out := make([]Command, len(cmds))
	for i, c := range cmds {
		if c.name == "" {
			c.name = strings.NewReplacer(".", "_").Replace(c.Subject)
		}
		c.Subject = prefix + "." + c.Subject
		if a != "" {
			c.Agency = a
		}
		out[i] = c
	}
	return out
}

// Serve adds every command to svc, each an endpoint on its full subject
// (put there by Under), named for the subject after the prefix.
func Serve(ctx context.Context, log *zap.Logger, svc micro.Group, cmds []Command) error {
	if log == nil {
		log = zap.NewNop()
	}
	var errs []error
	for _, c := range cmds {
		name := c.name
		if name == "" {
			name = strings.NewReplacer(".", "_").Replace(c.Subject)
		}
		errs = append(errs, c.handle(ctx, log, svc, name, c.Subject))
	}
	return errors.Join(errs...)
}

// Described returns the contract's description of cmds.
func Described(cmds []Command) []events.Command {
	out := make([]events.Command, len(cmds))
	for i, c := range cmds {
		out[i] = c.Command
	}
	return out
}

// Refusals are the codes a command may be refused with, and their meaning:
// what the contract publishes of the header Nats-Service-Error-Code.
func Refusals() []events.RefusalCode {
	return []events.RefusalCode{
		{Code: BadRequest, Meaning: "bad input (the sentence names the field)"},
		{Code: Forbidden, Meaning: "the Mental Health Act forbids it (the section is cited), or the caller's NATS user may not send it"},
		{Code: NotFound, Meaning: "unknown episode or handoff"},
		{Code: Conflict, Meaning: "the episode's state forbids it"},
		{Code: Internal, Meaning: "a fault in crisisbus, not the caller's mistake"},
		{Code: Unavailable, Meaning: "crisisbus cannot do it just now (its store is full or stopped, or a part is not answering): try again in a few minutes"},
	}
}
