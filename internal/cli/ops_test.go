package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/ops"
)

func httpGet(u string) (int, string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// printed finds the address up printed after label.
func printed(t *testing.T, out, label string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(label) + `\s+(http://[0-9.:]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("up did not print %q:\n%s", label, out)
	}
	return m[1]
}

// What an operator of `crisisbus up` sees: its metrics and health on the
// address printed, the NATS server's own monitoring endpoint, logs as one
// JSON object a line with the episode id on an event's line, and `status`
// saying all is well, then, once a fact nobody can read was dead-lettered,
// saying what needs a person, with exit 1.
func TestUpServesMetricsHealthJSONLogsAndStatusSaysWhatNeedsAPerson(t *testing.T) {
	dir := t.TempDir()
	url, out, logs := startUpWith(t, dir, "--log-format", "json")
	metrics := printed(t, out.String(), "metrics:")
	monitor := printed(t, out.String(), "NATS monitor:")

	if code, body, err := httpGet(metrics + "/healthz"); err != nil || code != 200 {
		t.Fatalf("/healthz: %d %q %v", code, body, err)
	}
	bustest.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		if code, body, err := httpGet(metrics + "/readyz"); err != nil || code != 200 || !strings.Contains(body, "console: ready") {
			return fmt.Errorf("/readyz: %d %q %v", code, body, err)
		}
		return nil
	})
	if code, body, err := httpGet(monitor + "/varz"); err != nil || code != 200 || !strings.Contains(body, `"server_name": "crisisbus"`) {
		t.Fatalf("NATS monitoring /varz: %d %v\n%.300s", code, err, body)
	}
	s, err := ops.Scrape(t.Context(), metrics)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.Get(ops.ServiceReady, "service", "clock"); !ok || v != 1 {
		t.Fatalf("%s of the clock = %v (present %v), want 1", ops.ServiceReady, v, ok)
	}

	// The test machine's own disk is not what is under test: a fresh
	// crisisbus on a machine with under 10% free rightly needs a person.
	// Asked for more free space than any disk has, status says so.
	code, stdout, stderr := run("status", "--data", dir, "--nats", url, "--min-free", "0")
	if code != 0 || !strings.Contains(stdout, "All well") || !strings.Contains(stdout, "crisisbus-police") {
		t.Fatalf("status of a fresh crisisbus exited %d:\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := run("status", "--data", dir, "--nats", url, "--min-free", "100"); code != 1 ||
		!strings.Contains(stdout, "the disk holding the store has") || !strings.Contains(stdout, "free space on it before the store fills") {
		t.Fatalf("status wanting 100%% free exited %d, want 1 naming the disk:\n%s%s", code, stdout, stderr)
	}

	example := "../../schemas/testdata/valid/s136.detained.json"
	if code, o, e := run("publish", "--data", dir, "--nats", url, example); code != 0 {
		t.Fatalf("publish exited %d:\n%s%s", code, o, e)
	}
	raw, _ := os.ReadFile(example)
	var ev events.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	// Every line is one JSON object; the audit log's line for the event
	// carries its episode id.
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		found := false
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				return fmt.Errorf("a log line is not JSON (%v): %s", err, sc.Text())
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := line[k]; !ok {
					return fmt.Errorf("a log line has no %q: %s", k, sc.Text())
				}
			}
			if line["msg"] == "event" && line["event_id"] == ev.ID {
				if line["episode"] != ev.Subject {
					return fmt.Errorf("the event's log line has episode %v, want %s", line["episode"], ev.Subject)
				}
				found = true
			}
		}
		if !found {
			return fmt.Errorf("no log line for event %s yet", ev.ID)
		}
		return nil
	})

	// A fact nobody can read, stored by the police's own user: every
	// consumer of it sets it aside.
	creds, err := broker.LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := broker.ConnectAs(url, creds, events.Police)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("crisis.police."+ev.Subject+".s136_welfare_checked_v1", []byte("not JSON at all")); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 15*time.Second, 200*time.Millisecond, func() error {
		code, stdout, stderr = run("status", "--data", dir, "--nats", url)
		if code != 1 || !strings.Contains(stdout, "NEEDS A PERSON") || !strings.Contains(stdout, "crisisbus deadletter list") ||
			!strings.Contains(stderr, "need a person") {
			return fmt.Errorf("status exited %d:\n%s%s", code, stdout, stderr)
		}
		return nil
	})
	if strings.Contains(stdout, "not JSON at all") {
		t.Errorf("status quoted what was submitted:\n%s", stdout)
	}
}

func TestAnUnknownLogFormatIsRefusedByName(t *testing.T) {
	code, _, stderr := run("up", "--data", t.TempDir(), "--log-format", "xml")
	if code != 2 || !strings.Contains(stderr, `--log-format: "xml" is not a log format (want console or json)`) {
		t.Fatalf("up --log-format xml exited %d: %s", code, stderr)
	}
}

func TestABadNATSMonitoringAddressIsRefusedByName(t *testing.T) {
	code, _, stderr := run("up", "--data", t.TempDir(), "--port", fmt.Sprint(freePort(t)), "--metrics", "off", "--nats-monitor", "localhost")
	if code != 1 || !strings.Contains(stderr, `NATS monitoring address "localhost"`) || !strings.Contains(stderr, "want host:port, or off") {
		t.Fatalf("up --nats-monitor localhost exited %d: %s", code, stderr)
	}
}
