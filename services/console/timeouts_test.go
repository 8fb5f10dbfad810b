package console_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/internal/slowconn"
	"github.com/crisisbus/crisisbus/services/console"
)

// A form whose body trickles in a byte at a time, or never comes, is cut
// off once the whole request has taken longer than the console allows
// (ops.ReadTimeout, 30 s; 1 s here), and a kept-alive connection with no
// next request is closed after ops.IdleTimeout (2 minutes; 1 s here). A
// page's live updates, one long response, carry on past both.
func TestASlowOrIdleConnectionIsLetGoAndLiveUpdatesCarryOn(t *testing.T) {
	const limit = time.Second
	c, _ := startConsoleWith(t, console.WithTimeouts(console.WithLivePing(console.Config{}, 200*time.Millisecond), limit, limit))
	u, _ := url.Parse(c.URL())
	dial := func() net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	// closedWithin says how long the console took to close conn.
	closedWithin := func(conn net.Conn, most time.Duration) time.Duration {
		t.Helper()
		took, held := slowconn.HeldFor(conn, most)
		if held {
			t.Fatalf("the console still held the connection after %s", most)
		}
		return took
	}

	// A sign-in form 100,000 bytes long, sent a byte every 200 ms.
	slow := dial()
	if _, err := slow.Write([]byte("POST /signin HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nusername=a")); err != nil {
		t.Fatal(err)
	}
	defer slowconn.Trickle(slow, 200*time.Millisecond)()
	if took := closedWithin(slow, 3*limit); took > 2*limit {
		t.Errorf("a trickling form held its connection for %s, with a limit of %s", took, limit)
	}

	// A page fetched, then nothing more on the connection.
	idle := dial()
	if _, err := idle.Write([]byte("GET /signin HTTP/1.1\r\nHost: " + u.Host + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("the sign-in page: %s, closing %v", resp.Status, resp.Close)
	}
	if took := closedWithin(idle, 3*limit); took > 2*limit {
		t.Errorf("an idle kept-alive connection was held for %s, with a limit of %s", took, limit)
	}

	// Live updates go on for longer than both limits.
	a := newAttacker(t, c.URL(), "")
	if code, body := a.try("police.handler", "crisisbus-police"); code != http.StatusSeeOther {
		t.Fatalf("signing in: %d %s", code, body)
	}
	live, err := a.client.Get(c.URL() + "/live")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Body.Close()
	start := time.Now()
	sc := bufio.NewScanner(live.Body)
	for time.Since(start) < 3*limit {
		if !sc.Scan() {
			t.Fatalf("the live updates ended after %s: %v", time.Since(start).Round(time.Millisecond), sc.Err())
		}
	}
}
