package ops

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/internal/slowconn"
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
		stop := func() {}
		if c.trickle {
			stop = slowconn.Trickle(conn, 200*time.Millisecond)
		}
		took, held := slowconn.HeldFor(conn, 3*limit)
		stop()
		if held {
			t.Errorf("%s: still held after %s, with a limit of %s", c.name, 3*limit, limit)
		} else if took > 2*limit {
			t.Errorf("%s: held for %s, with a limit of %s", c.name, took.Round(time.Millisecond), limit)
		}
	}
}
