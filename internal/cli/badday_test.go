package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// exitBound is how long a command may go on after its server died before
// the test calls it hung: far above its --timeout, so only a wait that has
// no bound fails it.
const exitBound = 60 * time.Second

// eventLines are n events of a year's pathways as NDJSON lines.
func eventLines(t *testing.T, n int) []string {
	t.Helper()
	evs := pathwayEvents(t, 21, 2)
	if len(evs) < n {
		t.Fatalf("only %d events", len(evs))
	}
	lines := make([]string, n)
	for i, e := range evs[:n] {
		raw, err := events.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = string(raw)
	}
	return lines
}

// stored is how many messages the stream holds.
func stored(t *testing.T, b *broker.Broker) uint64 {
	t.Helper()
	nc, err := b.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bus, err := natsbus.NewBus(nc, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := bus.JetStream().Stream(context.Background(), natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// runPiped runs a command reading standard input from the returned pipe.
func runPiped(args ...string) (stdin *io.PipeWriter, out, errOut *syncBuffer, code <-chan int) {
	pr, pw := io.Pipe()
	out, errOut = &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Run(context.Background(), args, pr, out, errOut)
		pr.Close()
	}()
	return pw, out, errOut, done
}

// The server dies in the middle of an import and stays down: the import
// stops within its --timeout, exits non-zero, names the server and says
// how many lines were stored; run again once the server is back, it
// stores only what was missing.
func TestImportStopsWhenTheServerDiesAndResumesWithoutStoringTwice(t *testing.T) {
	lines := eventLines(t, 40)
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	url := b.URL()

	stdin, out, errOut, code := runPiped("import", "--data", dir, "--nats", url, "--batch", "10", "--timeout", "2s", "-")
	io.WriteString(stdin, strings.Join(lines[:30], "\n")+"\n")
	bustest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := stored(t, b); n != 30 {
			return fmt.Errorf("%d of the first 30 lines stored", n)
		}
		return nil
	})
	b.Shutdown()
	killed := time.Now()
	go io.WriteString(stdin, strings.Join(lines[30:], "\n")+"\n") // more lines, to a dead server
	defer stdin.Close()

	var exit int
	select {
	case exit = <-code:
	case <-time.After(exitBound):
		t.Fatalf("import still running %s after the server died (--timeout 2s):\n%s%s", exitBound, out, errOut)
	}
	t.Logf("import exited %s after the server was killed (--timeout 2s)", time.Since(killed).Round(time.Millisecond))
	if exit != 1 {
		t.Fatalf("import exited %d, want 1:\n%s%s", exit, out, errOut)
	}
	for _, want := range []string{
		"the NATS server at " + url + " stopped answering after 2 s",
		"30 line(s) stored (acknowledged) before it stopped, 30 of them new",
		"Run the same import again to resume",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out.String(), "30 loaded, 0 duplicates, 0 rejected") {
		t.Errorf("summary: %s", out)
	}

	// The server comes back on its data; the same file again stores the
	// ten lines that were missing and nothing twice.
	b2 := bustest.Start(t, dir)
	path := filepath.Join(t.TempDir(), "all.ndjson")
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	c, o, e := run("import", "--data", dir, "--nats", b2.URL(), path)
	if c != 0 || !strings.Contains(o, "10 loaded, 30 duplicates, 0 rejected") {
		t.Fatalf("import again: exit %d: %s%s", c, o, e)
	}
	if got, want := string(export(t, dir, b2.URL())), strings.Join(lines, "\n")+"\n"; got != want {
		t.Fatalf("after resuming, the stream differs from the file (%d bytes, want %d)", len(got), len(want))
	}
}

// The same for publish: it stops within --timeout with what it stored.
func TestPublishStopsWhenTheServerDies(t *testing.T) {
	lines := eventLines(t, 8)
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	url := b.URL()

	stdin, out, errOut, code := runPiped("publish", "--data", dir, "--nats", url, "--timeout", "2s", "-")
	defer stdin.Close()
	io.WriteString(stdin, strings.Join(lines[:5], "\n")+"\n")
	bustest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := stored(t, b); n != 5 {
			return fmt.Errorf("%d of the first 5 lines stored", n)
		}
		return nil
	})
	b.Shutdown()
	go io.WriteString(stdin, strings.Join(lines[5:], "\n")+"\n")
	var exit int
	select {
	case exit = <-code:
	case <-time.After(exitBound):
		t.Fatalf("publish still running %s after the server died (--timeout 2s):\n%s%s", exitBound, out, errOut)
	}
	if exit != 1 {
		t.Fatalf("publish exited %d, want 1:\n%s%s", exit, out, errOut)
	}
	for _, want := range []string{
		"the NATS server at " + url + " stopped answering after 2 s",
		"5 event(s) stored (acknowledged) before it stopped, 5 of them new; line 6 was not acknowledged",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
}

// withLongLine writes good lines with one line of size bytes after the
// first half of them, streamed to disk, and returns the file and the long
// line's number.
func withLongLine(t *testing.T, good []string, size int) (path string, longLine int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "with-a-long-line.ndjson")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	half := len(good) / 2
	for _, l := range good[:half] {
		w.WriteString(l + "\n")
	}
	// A line as a faulty export might write one: the start of an event and
	// then a 50 MB field.
	head := `{"specversion":"1.0","data":{"notes":"`
	w.WriteString(head)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for left := size - len(head) - 3; left > 0; left -= len(chunk) {
		w.Write(chunk[:min(left, len(chunk))])
	}
	w.WriteString(`"}}` + "\n")
	for _, l := range good[half:] {
		w.WriteString(l + "\n")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return path, half + 1
}

const fiftyMB = 50 << 20

var longLineNamed = fmt.Sprintf("%d bytes (50.0 MiB), over the limit of %d bytes (4.0 MiB) for one event; skipped", fiftyMB, maxEventSize)

// A 50 MB line in an import is named (line, size, limit) and rejected; the
// good lines before and after it are stored.
func TestImportNamesA50MBLineAndStoresTheLinesAroundIt(t *testing.T) {
	good := eventLines(t, 10)
	path, n := withLongLine(t, good, fiftyMB)
	b := bustest.Start(t, "")
	code, out, errOut := run("import", "--data", b.DataDir(), "--nats", b.URL(), "--batch", "3", path)
	if code != 1 {
		t.Fatalf("import exited %d, want 1:\n%s%s", code, out, errOut)
	}
	if want := fmt.Sprintf("line %d: rejected: %s", n, longLineNamed); !strings.Contains(errOut, want) {
		t.Errorf("the long line is not named as %q:\n%s", want, errOut)
	}
	if !strings.Contains(out, "10 loaded, 0 duplicates, 1 rejected") {
		t.Errorf("summary: %s", out)
	}
	if got, want := string(export(t, b.DataDir(), b.URL())), strings.Join(good, "\n")+"\n"; got != want {
		t.Fatalf("stored events are not the good lines:\n%.2000s", got)
	}
}

// The same for publish.
func TestPublishNamesA50MBLineAndStoresTheLinesAroundIt(t *testing.T) {
	good := eventLines(t, 6)
	path, n := withLongLine(t, good, fiftyMB)
	b := bustest.Start(t, "")
	code, out, errOut := run("publish", "--data", b.DataDir(), "--nats", b.URL(), path)
	if code != 1 {
		t.Fatalf("publish exited %d, want 1:\n%s%s", code, out, errOut)
	}
	if want := fmt.Sprintf("line %d: rejected: %s", n, longLineNamed); !strings.Contains(errOut, want) {
		t.Errorf("the long line is not named as %q:\n%s", want, errOut)
	}
	if !strings.Contains(out, "6 published, 0 duplicates, 1 rejected") {
		t.Errorf("summary: %s", out)
	}
	if got, want := string(export(t, b.DataDir(), b.URL())), strings.Join(good, "\n")+"\n"; got != want {
		t.Fatalf("stored events are not the good lines:\n%.2000s", got)
	}
}

const firstLineCutShort = "line 1: %s: not a whole event: the line ends before its JSON does (cut short?); the lines after it were read as events of their own\n"

// An NDJSON file whose first line was cut short (a copy interrupted, a line
// edited by hand) was taken for the start of one pretty-printed event: every
// good line after it was swallowed into it, none was published, and the
// summary said "0 published, 0 duplicates, 1 rejected". Now line 1 alone is
// rejected, saying it was cut short, and every good line after it is stored.
func TestPublishOfNDJSONWithACutShortFirstLineStoresEveryGoodLineAfterIt(t *testing.T) {
	b := bustest.Start(t, "")
	lines := eventLines(t, 5)
	good := lines[1:]
	lines[0] = lines[0][:len(lines[0])/2]
	path := filepath.Join(t.TempDir(), "cut-short.ndjson")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("publish", "--data", b.DataDir(), "--nats", b.URL(), path)
	if code != 1 {
		t.Errorf("publish exited %d, want 1 (a line was rejected):\n%s%s", code, out, errOut)
	}
	if want := fmt.Sprintf(firstLineCutShort, "rejected"); !strings.HasPrefix(errOut, want) {
		t.Errorf("line 1 is not named as cut short (%q):\n%s", want, errOut)
	}
	if n := strings.Count(errOut, "rejected:"); n != 1 {
		t.Errorf("%d lines rejected, want 1:\n%s", n, errOut)
	}
	for n := 2; n <= 5; n++ {
		if !strings.Contains(out, fmt.Sprintf("line %d: ", n)) {
			t.Errorf("line %d not published:\n%s", n, out)
		}
	}
	if !strings.Contains(out, "4 published, 0 duplicates, 1 rejected") {
		t.Errorf("summary: %s", out)
	}
	if got, want := string(export(t, b.DataDir(), b.URL())), strings.Join(good, "\n")+"\n"; got != want {
		t.Fatalf("stored events are not the good lines:\n%.2000s", got)
	}
}

// What a first line that is not a whole JSON value begins is told from what
// follows it: NDJSON cut short anywhere on line 1 gives line 1 rejected and
// the rest checked; a pretty-printed event is one event, even with an object
// of its own on one line (a fact of a handoff); a pretty-printed event cut
// short is one rejection.
func TestSchemaValidateTellsACutShortFirstLineFromAPrettyPrintedEvent(t *testing.T) {
	lines := eventLines(t, 5)
	first := lines[0]
	write := func(name, text string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, cut := range []int{
		len(first) / 2,
		strings.Index(first, `"id":`) + len(`"id":`),       // after a member's name
		strings.Index(first, `"id":"`) + len(`"id":"`) + 4, // inside a string
		strings.Index(first, `"data":{`) + len(`"data":{`), // in an object within
		len(first) - 1, // all but the last brace
	} {
		text := first[:cut] + "\n\n" + strings.Join(lines[1:], "\n") + "\n"
		code, out, errOut := run("schema", "validate", write("cut-short.ndjson", text))
		if code != 1 || !strings.HasPrefix(errOut, fmt.Sprintf(firstLineCutShort, "invalid")) || !strings.Contains(out, "4 valid, 1 invalid") {
			t.Errorf("first line cut after %d bytes: exit %d; want 1, line 1 named as cut short and 4 valid:\n%s%s", cut, code, out, errOut)
		}
		for n := 3; n <= 6; n++ {
			if !strings.Contains(out, fmt.Sprintf("line %d: valid ", n)) {
				t.Errorf("first line cut after %d bytes: line %d not checked:\n%s", cut, n, out)
			}
		}
	}

	pretty, err := os.ReadFile("../../schemas/testdata/valid/handoff.offered.json")
	if err != nil {
		t.Fatal(err)
	}
	fact := regexp.MustCompile(`\{\s*"eventId"[^}]*\}`)
	if !fact.Match(pretty) {
		t.Fatal("the example has no fact")
	}
	oneLine := fact.ReplaceAllFunc(pretty, func(b []byte) []byte { return []byte(compact(t, b)) })
	code, out, errOut := run("schema", "validate", write("pretty.json", string(oneLine)))
	if code != 0 || !strings.Contains(out, "line 1: valid crisisbus.handoff.offered.v1") || !strings.Contains(out, "1 valid, 0 invalid") {
		t.Errorf("a pretty-printed event with a fact on one line: exit %d:\n%s%s", code, out, errOut)
	}

	half := strings.Join(strings.SplitAfter(string(pretty), "\n")[:12], "")
	code, out, errOut = run("schema", "validate", write("pretty-cut-short.json", half))
	if want := "line 1: invalid: not a whole event: the input ends before the JSON that starts on this line does (cut short?)\n"; code != 1 || !strings.HasPrefix(errOut, want) || !strings.Contains(out, "0 valid, 1 invalid") {
		t.Errorf("a pretty-printed event cut short: exit %d; want 1 and %q:\n%s%s", code, want, out, errOut)
	}
}

// The same for schema validate, offline.
func TestSchemaValidateNamesA50MBLineAndChecksTheLinesAroundIt(t *testing.T) {
	good := eventLines(t, 6)
	path, n := withLongLine(t, good, fiftyMB)
	code, out, errOut := run("schema", "validate", path)
	if code != 1 {
		t.Fatalf("schema validate exited %d, want 1:\n%s%s", code, out, errOut)
	}
	if want := fmt.Sprintf("line %d: invalid: %s", n, longLineNamed); !strings.Contains(errOut, want) {
		t.Errorf("the long line is not named as %q:\n%s", want, errOut)
	}
	if !strings.Contains(out, "6 valid, 1 invalid") {
		t.Errorf("summary: %s", out)
	}
	for i := range good {
		line := i + 1
		if line >= n {
			line++
		}
		if !strings.Contains(out, fmt.Sprintf("line %d: valid ", line)) {
			t.Errorf("good line %d not checked:\n%s", line, out)
		}
	}
}

// An over-long line is read past, never held: reading 50 MB of one line
// allocates a few MiB, however long the line.
func TestLineReaderSkipsALongLineWithoutHoldingIt(t *testing.T) {
	long := io.LimitReader(repeatReader('x'), fiftyMB)
	in := io.MultiReader(strings.NewReader("first\r\n"), long, strings.NewReader("\n\nlast"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	lr := newLineReader(in, maxEventSize)
	var got []string
	for {
		line, _, err := lr.next()
		if err == io.EOF {
			break
		}
		var tl *lineTooLongError
		if errors.As(err, &tl) {
			got = append(got, fmt.Sprintf("line %d too long: %d", tl.line, tl.size))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("line %d: %q", lr.line(), line))
	}
	runtime.ReadMemStats(&after)
	want := []string{`line 1: "first"`, fmt.Sprintf("line 2 too long: %d", fiftyMB), `line 3: ""`, `line 4: "last"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("read:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("reading a 50 MB line and three short ones allocated %d bytes", alloc)
	if alloc > 2*maxEventSize {
		t.Fatalf("reading past a 50 MB line allocated %d bytes: the line was held", alloc)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// An integrator who publishes as a user that may not publish those events
// is told so at once, naming the user and what it may publish; nothing is
// stored and the command does not wait on the server.
func TestPublishAsAUserThatMayNotSaysSoAtOnce(t *testing.T) {
	lines := eventLines(t, 2)
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ user, says string }{
		{"console", "user console may publish no events"},
		{"amhp", "user amhp may publish only amhp's events"},
		{"amhp-integration", "user amhp-integration may publish only amhp's events"},
	} {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte(b.Credentials()[c.user]), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run("publish", "--nats", b.URL(), "--user", c.user, "--password-file", pw, "--timeout", "60s", file)
		if code != 1 || !strings.Contains(out+errOut, c.says) {
			t.Errorf("publish as %s: exit %d, want 1 saying %q:\n%s%s", c.user, code, c.says, out, errOut)
		}
	}
	if n := stored(t, b); n != 0 {
		t.Fatalf("%d events stored by users that may not publish them", n)
	}
}

// The operator stops an import halfway (Ctrl-C, or SIGTERM from a service
// manager): it says, in words, that it was interrupted, how many lines
// were stored and how to resume; run again, it stores only what was
// missing.
func TestAnImportInterruptedSaysHowFarItGotAndResumesWithoutStoringTwice(t *testing.T) {
	lines := eventLines(t, 40)
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	url := b.URL()

	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	pr, stdin := io.Pipe()
	defer stdin.Close()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, []string{"import", "--data", dir, "--nats", url, "--batch", "10", "-"}, pr, out, errOut)
	}()
	io.WriteString(stdin, strings.Join(lines[:30], "\n")+"\n")
	bustest.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		if n := stored(t, b); n != 30 {
			return fmt.Errorf("%d of the first 30 lines stored", n)
		}
		return nil
	})
	interrupt()
	var exit int
	select {
	case exit = <-code:
	case <-time.After(exitBound):
		t.Fatalf("import still running %s after it was interrupted:\n%s%s", exitBound, out, errOut)
	}
	if exit != 1 {
		t.Fatalf("import exited %d, want 1:\n%s%s", exit, out, errOut)
	}
	for _, want := range []string{
		"interrupted",
		"30 line(s) stored (acknowledged) before it stopped, 30 of them new",
		"Run the same import again to resume",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut.String(), "context canceled") {
		t.Errorf("stderr says %q, not what happened in words:\n%s", "context canceled", errOut)
	}

	path := filepath.Join(t.TempDir(), "all.ndjson")
	os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	c, o, e := run("import", "--data", dir, "--nats", url, path)
	if c != 0 || !strings.Contains(o, "10 loaded, 30 duplicates, 0 rejected") {
		t.Fatalf("import again: exit %d: %s%s", c, o, e)
	}
	if got, want := string(export(t, dir, url)), strings.Join(lines, "\n")+"\n"; got != want {
		t.Fatalf("after resuming, the stream differs from the file (%d bytes, want %d)", len(got), len(want))
	}
}

// A stream or bucket crisisbus provisions that is missing under a running
// system (deleted with a NATS tool) is named by `crisisbus status` as
// needing a person, with what it held and how to make it again; never
// read as "no clock has run yet".
func TestStatusNamesAStreamOrBucketThatIsMissing(t *testing.T) {
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	admin := bustest.Bus(t, b, "")
	if err := admin.JetStream().DeleteKeyValue(t.Context(), "crisis_clocks"); err != nil {
		t.Fatal(err)
	}
	if err := admin.JetStream().DeleteStream(t.Context(), natsbus.DeadLetterStream); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("status", "--data", dir, "--nats", b.URL(), "--wait", "50ms")
	if code != 1 {
		t.Fatalf("status exited %d, want 1:\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"bucket crisis_clocks is missing", "stream " + natsbus.DeadLetterStream + " is missing", "makes it again"} {
		if !strings.Contains(out, want) {
			t.Errorf("status does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "no clock has run yet") {
		t.Errorf("status reads the missing clocks bucket as no clock having run:\n%s", out)
	}
}

// An export that stops before the end (the server gone, the operator's
// Ctrl-C) leaves no incomplete file where the export was to be, and a
// file already there (last month's export) as it was; one that ends
// writes the file whole.
func TestAnExportThatStopsLeavesNoHalfFileAndKeepsTheOldOne(t *testing.T) {
	lines := eventLines(t, 20)
	dir := t.TempDir()
	b := bustest.Start(t, dir)
	in := filepath.Join(t.TempDir(), "in.ndjson")
	os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	if c, o, e := run("import", "--data", dir, "--nats", b.URL(), in); c != 0 {
		t.Fatalf("import: exit %d: %s%s", c, o, e)
	}
	outDir := t.TempDir()
	path := filepath.Join(outDir, "year.ndjson")
	old := "last month's export, whole\n"
	os.WriteFile(path, []byte(old), 0o600)

	ctx, interrupt := context.WithCancel(context.Background())
	interrupt() // Ctrl-C before the export could finish
	var out, errOut syncBuffer
	if code := Run(ctx, []string{"export", "--data", dir, "--nats", b.URL(), "-o", path}, strings.NewReader(""), &out, &errOut); code != 1 {
		t.Fatalf("interrupted export exited %d, want 1:\n%s%s", code, &out, &errOut)
	}
	if got, _ := os.ReadFile(path); string(got) != old {
		t.Errorf("the file already there holds %q after an export that stopped, want it kept: %q", got, old)
	}
	if !strings.Contains(errOut.String(), path+" was not written") {
		t.Errorf("stderr does not say the file was not written:\n%s", &errOut)
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
		t.Errorf("the export left files behind: %v", entries)
	}

	if c, o, e := run("export", "--data", dir, "--nats", b.URL(), "-o", path); c != 0 {
		t.Fatalf("export: exit %d: %s%s", c, o, e)
	}
	if got, _ := os.ReadFile(path); string(got) != strings.Join(lines, "\n")+"\n" {
		t.Errorf("a whole export does not hold every event (%d bytes)", len(got))
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 1 {
		t.Errorf("the export left files behind: %v", entries)
	}
}
