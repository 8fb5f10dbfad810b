package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// syncBuffer is a bytes.Buffer safe to write from the running command and read from the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startUp runs `crisisbus up` as a person would in one terminal and waits until it says it is up.
func startUp(t *testing.T, dir string) (url string, logs *syncBuffer) {
	url, _, logs = startUpWith(t, dir)
	return url, logs
}

// startUpWith is startUp with more flags, returning what up printed too.
// Its metrics and NATS monitoring listeners take free ports.
func startUpWith(t *testing.T, dir string, flags ...string) (url string, out, logs *syncBuffer) {
	ctx, cancel := context.WithCancel(context.Background())
	port := freePort(t)
	out, logs = &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	args := append([]string{"up", "--data", dir, "--port", fmt.Sprint(port), "--http", "127.0.0.1:0",
		"--metrics", "127.0.0.1:0", "--nats-monitor", "127.0.0.1:0"}, flags...)
	go func() {
		done <- Run(ctx, args, nil, out, logs)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("crisisbus up exited %d: %s", code, logs)
		}
	})
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "crisisbus is up") {
			return fmt.Errorf("not up yet: %q %s", out.String(), logs)
		}
		return nil
	})
	return fmt.Sprintf("nats://127.0.0.1:%d", port), out, logs
}

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func TestUpThenPublishFromAnotherTerminalIsConsumed(t *testing.T) {
	dir := t.TempDir()
	url, logs := startUp(t, dir)

	example := "../../schemas/testdata/valid/s136.detained.json"
	code, out, errOut := run("publish", "--data", dir, "--nats", url, example)
	if code != 0 || !strings.Contains(out, "stored at sequence 1") || !strings.Contains(out, "1 published, 0 duplicates, 0 rejected") {
		t.Fatalf("publish exited %d:\n%s%s", code, out, errOut)
	}
	// The running system consumed it: the audit log names the event.
	bustest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(logs.String(), "f0e365b1-ca3b-5cd3-88ed-0db7097eee94") {
			return fmt.Errorf("event not in the log:\n%s", logs)
		}
		return nil
	})

	// Publishing it again stores nothing new.
	code, out, _ = run("publish", "--data", dir, "--nats", url, example)
	if code != 0 || !strings.Contains(out, "already stored at sequence 1") {
		t.Fatalf("republish exited %d: %s", code, out)
	}

	// NDJSON with one bad line: the good lines are stored, the bad one is
	// named by line with its reason, and the exit code says so.
	good1, _ := os.ReadFile("../../schemas/testdata/valid/episode.opened.json")
	bad, _ := os.ReadFile("../../schemas/testdata/invalid/s136-in-a-private-dwelling.json")
	good2, _ := os.ReadFile("../../schemas/testdata/valid/triage.requested.json")
	nd := filepath.Join(dir, "batch.ndjson")
	os.WriteFile(nd, []byte(compact(t, good1)+"\n"+compact(t, bad)+"\n"+compact(t, good2)+"\n"), 0o600)
	code, out, errOut = run("publish", "--data", dir, "--nats", url, nd)
	if code != 1 {
		t.Fatalf("publish with a bad line exited %d, want 1", code)
	}
	if !strings.Contains(errOut, "line 2: rejected:") || !strings.Contains(errOut, "/data/locationType") {
		t.Fatalf("bad line not named with its reason: %s", errOut)
	}
	if !strings.Contains(out, "2 published, 0 duplicates, 1 rejected") {
		t.Fatalf("summary: %s", out)
	}
}

func TestSchemaValidateNamesEachProblemOffline(t *testing.T) {
	code, out, _ := run("schema", "validate", "../../schemas/testdata/valid/handoff.offered.json")
	if code != 0 || !strings.Contains(out, "1 valid, 0 invalid") {
		t.Fatalf("valid example: exit %d: %s", code, out)
	}
	code, _, errOut := run("schema", "validate", "../../schemas/testdata/invalid/nhs-number-bad-check-digit.json")
	if code != 1 || !strings.Contains(errOut, "fails the NHS number check digit") {
		t.Fatalf("invalid example: exit %d: %s", code, errOut)
	}
	if code, _, _ := run("nonsense"); code != 2 {
		t.Fatalf("unknown command exited %d, want 2", code)
	}
}

func compact(t *testing.T, b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestServeRunsOneServiceAgainstAnExternalServer(t *testing.T) {
	b := bustest.Start(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"serve", "audit-log", "--nats", b.URL(), "--data", b.DataDir(), "--metrics", "127.0.0.1:0"}, nil, &out, &logs)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, logs.String())
		}
	}()
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(out.String(), "audit-log is serving as record") {
			return fmt.Errorf("not serving: %q %s", out.String(), logs.String())
		}
		return nil
	})
	// The served service says it is ready on the metrics address it printed.
	metrics := printed(t, out.String(), "metrics:")
	if code, body, err := httpGet(metrics + "/readyz"); err != nil || code != 200 || !strings.Contains(body, "audit-log: ready") {
		t.Fatalf("/readyz of the served audit log: %d %q %v", code, body, err)
	}
	code, o, eo := run("publish", "--nats", b.URL(), "--data", b.DataDir(), "../../schemas/testdata/valid/episode.opened.json")
	if code != 0 {
		t.Fatalf("publish: %d %s %s", code, o, eo)
	}
	bustest.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(logs.String(), "crisisbus.episode.opened.v1") {
			return fmt.Errorf("served audit log did not consume the event: %s", logs.String())
		}
		return nil
	})
	if code, _, eo := run("serve", "no-such-service"); code != 2 || !strings.Contains(eo, "unknown service") {
		t.Fatalf("unknown service: exit %d %s", code, eo)
	}
}

func TestBenchPrintsRawAndCrisisbusFiguresWithRatios(t *testing.T) {
	code, out, errOut := run("bench", "--latency-messages", "50", "--throughput-messages", "200", "--rounds", "2")
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut)
	}
	for _, row := range []string{"raw JetStream", "crisisbus ", "crisisbus/raw", "the median of 2 rounds"} {
		if !strings.Contains(out, row) {
			t.Errorf("bench output lacks the %q row:\n%s", row, out)
		}
	}
}

// bench --only measures one path, so that its CPU profile (--cpuprofile)
// shows that path's work alone; an unknown path is named in the refusal.
func TestBenchProfilesOnePathAlone(t *testing.T) {
	prof := filepath.Join(t.TempDir(), "crisisbus.prof")
	code, out, errOut := run("bench", "--only", "crisisbus", "--cpuprofile", prof,
		"--latency-messages", "50", "--throughput-messages", "200", "--rounds", "1")
	if code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut)
	}
	if !strings.Contains(out, "crisisbus ") || strings.Contains(out, "raw JetStream") || strings.Contains(out, "crisisbus/raw") {
		t.Errorf("bench --only crisisbus printed another path or a ratio:\n%s", out)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("no CPU profile written to %s: %v", prof, err)
	}
	code, _, errOut = run("bench", "--only", "nats", "--latency-messages", "50", "--throughput-messages", "200", "--rounds", "1")
	if code == 0 || !strings.Contains(errOut, `no path "nats"`) || !strings.Contains(errOut, `"crisisbus"`) {
		t.Errorf("bench --only nats: exit %d, %s", code, errOut)
	}
}

func TestFlagsMayFollowTheFile(t *testing.T) {
	b := bustest.Start(t, "")
	code, out, errOut := run("publish", "../../schemas/testdata/valid/episode.opened.json", "--nats", b.URL(), "--data", b.DataDir())
	if code != 0 || !strings.Contains(out, "1 published") {
		t.Fatalf("publish FILE --nats URL: exit %d: %s%s", code, out, errOut)
	}
}

// An event an integrator published around crisisbus's checks is kept in the
// dead-letter stream, and the operator can see it and why.
func TestDeadLetterListShowsWhatWasRejectedAndWhy(t *testing.T) {
	b := bustest.Start(t, "")
	police := bustest.Bus(t, b, events.Police)
	bad, _ := os.ReadFile("../../schemas/testdata/invalid/s136-in-a-private-dwelling.json")
	ev, err := events.New(events.Police, "5b0f9d4e-8a51-4c4e-9d0e-2f1c3a7b6e01", &events.S136Detained{})
	if err != nil {
		t.Fatal(err)
	}
	subj, _ := events.Subject(ev)
	if _, err := police.JetStream().Publish(t.Context(), subj, bad); err != nil {
		t.Fatal(err)
	}
	sub, err := bustest.Bus(t, b, events.Record).Consume(t.Context(), natsbus.ConsumerConfig{Durable: "record-check"},
		func(context.Context, events.Event) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		code, out, errOut := run("deadletter", "list", "--nats", b.URL(), "--data", b.DataDir(), "--body")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"1 message(s)", "consumer record-check", "/data/locationType", "private_dwelling"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("the list lacks %q:\n%s", want, out)
			}
		}
		return nil
	})
}

func TestServeConsoleAloneAgainstAnExternalServer(t *testing.T) {
	b := bustest.Start(t, "")
	// Against an external NATS the demo people are not there: it needs a users file.
	if code, _, errOut := run("serve", "console", "--nats", b.URL(), "--data", b.DataDir(), "--http", "127.0.0.1:0"); code != 1 || !strings.Contains(errOut, "needs a users file") {
		t.Fatalf("serve console without a users file: exit %d: %s", code, errOut)
	}
	users := filepath.Join(t.TempDir(), "users.json")
	if code, _, errOut := runIn("correct horse battery\n", "users", "add", "amhp.duty", "--file", users, "--name", "Jordan Taylor", "--agency", "amhp", "--role", "Duty AMHP"); code != 0 {
		t.Fatalf("users add: %d %s", code, errOut)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"serve", "console", "--nats", b.URL(), "--data", b.DataDir(), "--http", "127.0.0.1:0", "--users", users, "--metrics", "127.0.0.1:0"}, nil, &out, &logs)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve console exited %d: %s", code, logs.String())
		}
	}()
	var url string
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		for _, line := range strings.Split(out.String(), "\n") {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "console: "); ok {
				url = u
				return nil
			}
		}
		return fmt.Errorf("no console address yet: %q %s", out.String(), logs.String())
	})
	resp, err := http.Get(url + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Sign in") {
		t.Fatalf("GET /signin: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "Demo people") {
		t.Fatal("the sign-in page lists the demo people with a users file")
	}
}
