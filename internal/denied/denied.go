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
// Watch lets a request or a publish learn at once that the server refused it.

// denials holds one connection's waiters, by subject.
type denials struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

// byConn maps a *nats.Conn made with Option to its denials.
var byConn sync.Map

var deniedPublish = regexp.MustCompile(`Publish to "([^"]+)"`)

// Watch returns a channel closed if the server refuses a publish to
// subject on nc (a permissions violation), and a function to stop watching.
// On a connection made without Option the channel is never closed.
func Watch(nc *nats.Conn, subject string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	v, ok := byConn.Load(nc)
	if !ok {
		return ch, func() {}
	}
	d := v.(*denials)
	d.mu.Lock()
	if d.waiters[subject] == nil {
		d.waiters[subject] = map[chan struct{}]struct{}{}
	}
	d.waiters[subject][ch] = struct{}{}
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.waiters[subject], ch)
		if len(d.waiters[subject]) == 0 {
			delete(d.waiters, subject)
		}
		d.mu.Unlock()
	}
}

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
	for ch := range d.waiters[m[1]] {
		close(ch)
	}
	delete(d.waiters, m[1])
	d.mu.Unlock()
}

// Option wraps the options' error and close handlers so that the
// connection's refusals reach Watch, and forgets the connection when it
// closes. Add it after opts, and call the returned register with the
// connection once it is made.
func Option(opts []nats.Option) (nats.Option, func(*nats.Conn)) {
	var o nats.Options
	for _, opt := range opts {
		_ = opt(&o)
	}
	d := &denials{waiters: map[string]map[chan struct{}]struct{}{}}
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
// function to release it.
func Cancel(ctx context.Context, nc *nats.Conn, subject string) (context.Context, func()) {
	ch, unwatch := Watch(nc, subject)
	cctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-ch:
			cancel(ErrDenied)
		case <-cctx.Done():
		}
	}()
	return cctx, func() { cancel(nil); unwatch() }
}

// ErrDenied is the cause of a context Cancel cancelled: the server refused
// the publish for lack of permission.
var ErrDenied = errors.New("the server refused it: this connection's user may not publish there")

// Refused reports whether ctx (from Cancel) was cancelled because the
// server refused the publish.
func Refused(ctx context.Context) bool { return errors.Is(context.Cause(ctx), ErrDenied) }
