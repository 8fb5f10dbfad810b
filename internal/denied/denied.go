// Package denied tells a request or a publish at once that the server
// refused it for lack of permission, instead of leaving it to time out.
package denied

import (
	"context"
	"errors"
	"regexp"
	"sync"

	"github.com/nats-io/nats.go"
)

// The server refuses a publish its user may not make by telling the
// client, not the subject's listeners: a request to a subject its user may
// not send to is never answered, and would wait its whole timeout. So every
// connection made by broker.ConnectAs notes each refusal (Option), and
// Cancel lets a request or a publish learn at once that the server refused it.

// denials holds one connection's waiters, by subject: the cancel function
// of each request or publish in flight that asked to be told.
type denials struct {
	mu      sync.Mutex
	waiters map[string]map[*waiter]struct{}
}

type waiter struct{ cancel context.CancelCauseFunc }

// byConn maps a *nats.Conn made with Option to its denials.
var byConn sync.Map

var deniedPublish = regexp.MustCompile(`Publish to "([^"]+)"`)

// noteDenied wakes every request waiting on the subject a refusal names.
func (d *denials) noteDenied(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	m := deniedPublish.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	d.mu.Lock()
	for w := range d.waiters[m[1]] {
		w.cancel(ErrDenied)
	}
	delete(d.waiters, m[1])
	d.mu.Unlock()
}

// Option wraps the options' error and close handlers so that the
// connection's refusals reach Cancel, and forgets the connection when it
// closes. Add it after opts, and call the returned register with the
// connection once it is made.
func Option(opts []nats.Option) (nats.Option, func(*nats.Conn)) {
	var o nats.Options
	for _, opt := range opts {
		_ = opt(&o)
	}
	d := &denials{waiters: map[string]map[*waiter]struct{}{}}
	onErr, onClosed := o.AsyncErrorCB, o.ClosedCB
	return func(o *nats.Options) error {
		o.AsyncErrorCB = func(nc *nats.Conn, sub *nats.Subscription, err error) {
			d.noteDenied(err)
			if onErr != nil {
				onErr(nc, sub, err)
			}
		}
		o.ClosedCB = func(nc *nats.Conn) {
			byConn.Delete(nc)
			if onClosed != nil {
				onClosed(nc)
			}
		}
		return nil
	}, func(nc *nats.Conn) { byConn.Store(nc, d) }
}

// Cancel returns a context derived from ctx that is cancelled, with cause
// ErrDenied, if the server refuses a publish to subject on nc; and a
// function to release it. On a connection made without Option the context
// is cancelled only with ctx.
func Cancel(ctx context.Context, nc *nats.Conn, subject string) (context.Context, func()) {
	cctx, cancel := context.WithCancelCause(ctx)
	v, ok := byConn.Load(nc)
	if !ok {
		return cctx, func() { cancel(nil) }
	}
	d, w := v.(*denials), &waiter{cancel: cancel}
	d.mu.Lock()
	if d.waiters[subject] == nil {
		d.waiters[subject] = map[*waiter]struct{}{}
	}
	d.waiters[subject][w] = struct{}{}
	d.mu.Unlock()
	return cctx, func() {
		d.mu.Lock()
		delete(d.waiters[subject], w)
		if len(d.waiters[subject]) == 0 {
			delete(d.waiters, subject)
		}
		d.mu.Unlock()
		cancel(nil)
	}
}

// ErrDenied is the cause of a context Cancel cancelled: the server refused
// the publish for lack of permission.
var ErrDenied = errors.New("the server refused it: this connection's user may not publish there")

// Refused reports whether ctx (from Cancel) was cancelled because the
// server refused the publish.
func Refused(ctx context.Context) bool { return errors.Is(context.Cause(ctx), ErrDenied) }
