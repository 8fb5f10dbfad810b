// Package slowconn plays the client that holds a server's connection: one
// whose request body trickles in, or that sends nothing more. The console's
// and the metrics listener's tests use it to see that each lets go in time.
package slowconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Trickle writes one byte to conn every interval, until stop is called or
// a write fails (the server let go).
func Trickle(conn net.Conn, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(every):
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// HeldFor reads whatever the server sends on conn until it closes the
// connection, and says how long that took; held is true when it was still
// open after most.
func HeldFor(conn net.Conn, most time.Duration) (took time.Duration, held bool) {
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(most))
	_, err := io.Copy(io.Discard, conn)
	return time.Since(start), errors.Is(err, os.ErrDeadlineExceeded)
}
