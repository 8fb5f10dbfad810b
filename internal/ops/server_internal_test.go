package ops

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// The metrics and health listener lets go of a request whose body trickles
// in a byte at a time once the whole request has taken ReadTimeout (30 s;
// 1 s here), and of a kept-alive connection after IdleTimeout without a
// next request (2 minutes; 1 s here).
func TestTheMetricsListenerLetsGoOfASlowOrIdleConnection(t *testing.T) {
	const limit = time.Second
	s, err := Start(Config{Addr: "127.0.0.1:0", readTimeout: limit, idleTimeout: limit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	host := strings.TrimPrefix(s.URL(), "http://")
	for _, c := range []struct {
		name, request string
		trickle       bool
	}{
		{"a request whose body trickles in", "POST /healthz HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 100000\r\n\r\na", true},
		{"an idle kept-alive connection", "GET /healthz HTTP/1.1\r\nHost: " + host + "\r\n\r\n", false},
	} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write([]byte(c.request)); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		if c.trickle {
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Millisecond):
						if _, err := conn.Write([]byte("a")); err != nil {
							return
						}
					}
				}
			}()
		}
		start := time.Now()
		_ = conn.SetReadDeadline(start.Add(3 * limit))
		br := bufio.NewReader(conn)
		if resp, err := http.ReadResponse(br, nil); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		_, err = io.Copy(io.Discard, br)
		close(stop)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: still held after %s, with a limit of %s", c.name, 3*limit, limit)
		} else if took := time.Since(start); took > 2*limit {
			t.Errorf("%s: held for %s, with a limit of %s", c.name, took.Round(time.Millisecond), limit)
		}
	}
}
