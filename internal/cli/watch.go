package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// defaultServerTimeout is how long a tool waits for the NATS server to
// answer before it stops (--timeout).
const defaultServerTimeout = 30 * time.Second

// errInterrupted is why a tool stopped when its operator stopped it.
var errInterrupted = errors.New("interrupted (Ctrl-C, or a signal to stop)")

// serverGoneError is why a tool stopped: the NATS server stopped answering.
// What the tool had done by then is in its own message.
type serverGoneError struct {
	url   string
	after time.Duration
	cause error // what the client saw, if anything
}

func (e *serverGoneError) Error() string {
	s := fmt.Sprintf("the NATS server at %s stopped answering after %s", e.url, seconds(e.after))
	if e.cause != nil && !errors.Is(e.cause, context.Canceled) {
		s += " (" + e.cause.Error() + ")"
	}
	return s
}

func (e *serverGoneError) Unwrap() error { return e.cause }

func seconds(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	return fmt.Sprintf("%.0f s", d.Round(time.Second).Seconds())
}

// redactURLs is the --nats value without any password in it.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User(u.User.Username())
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// watchServer returns a context that is cancelled, with a
// *serverGoneError as its cause, once the server of nc has not answered
// for limit: the connection lost and not back, or a PING unanswered. A
// tool runs its work under it, so that no wait (an acknowledgement, the
// next message of a replay, room to send) outlasts a dead server by more
// than limit. stop ends the watch.
func watchServer(ctx context.Context, nc *nats.Conn, urls string, limit time.Duration) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	step := min(max(limit/5, 20*time.Millisecond), 2*time.Second)
	go func() {
		heard := time.Now()
		t := time.NewTicker(step)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := nc.FlushTimeout(step)
			if err == nil {
				heard = time.Now()
				continue
			}
			if nc.IsClosed() || time.Since(heard) >= limit {
				gone := &serverGoneError{url: redactURLs(urls), after: limit}
				if nc.IsClosed() {
					gone.cause = err
				}
				cancel(gone)
				return
			}
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// serverGone is the error of a tool whose wait for the server ended in err:
// ctx's cause when the watch stopped it, and otherwise err as the server
// not answering within limit.
func serverGone(ctx context.Context, urls string, limit time.Duration, err error) *serverGoneError {
	var gone *serverGoneError
	if errors.As(context.Cause(ctx), &gone) {
		return gone
	}
	if errors.As(err, &gone) {
		return gone
	}
	return &serverGoneError{url: redactURLs(urls), after: limit, cause: err}
}
