package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/services/reports"
)

func init() {
	commands["import"] = command{"load CloudEvents NDJSON in bulk: validated, deduplicated by event id, bad lines named", cmdImport}
	commands["export"] = command{"write the stored events of --from..--to as NDJSON that `import` loads back identically", cmdExport}
}

// toolBus connects as --user, or as the admin user of the data directory's
// credentials (which may publish any agency's events; the server still
// checks every subject). Every wait on the server is bounded by --timeout.
func toolBus(cf *connFlags) (*natsbus.Bus, error) {
	if err := cf.check(); err != nil {
		return nil, err
	}
	creds, err := cf.credentials()
	if err != nil {
		return nil, err
	}
	user := events.Agency(cf.user)
	nc, err := broker.ConnectAs(cf.url, creds, user)
	if err != nil {
		return nil, err
	}
	as, _ := events.ParseAgency(cf.user) // "" for admin: publishes for any agency
	return natsbus.NewBus(nc, as, nil, cf.busOptions()...)
}

// ImportStats is the outcome of an import.
type ImportStats struct {
	Loaded, Duplicates, Rejected int
	Elapsed                      time.Duration
}

// importChunk is a run of non-blank lines published as one batch, with the
// over-long lines among them (named, never read into memory).
type importChunk struct {
	lines   []int // 1-based line numbers of docs
	docs    [][]byte
	tooLong []*lineTooLongError
	bytes   int64 // input bytes the chunk covers
	held    int   // bytes of docs
}

// importChunkBytes bounds the lines a chunk holds, however many: with the
// chunks queued and in flight, an import of lines near the largest event
// (4 MiB) holds about a hundred megabytes, not --batch of them.
const importChunkBytes = 32 << 20

// importStopped is an import that stopped before the end of its input (the
// server stopped answering, or the operator interrupted it): why, and how
// far it got.
type importStopped struct {
	why         error // a *serverGoneError, or errInterrupted
	stored, new int   // lines acknowledged as stored, and how many of them were new
	firstUnsure int   // the first line not acknowledged
}

func (s *importStopped) Error() string {
	unsure := "every line sent was acknowledged"
	if s.firstUnsure > 0 {
		unsure = fmt.Sprintf("line %d and some after it were not acknowledged", s.firstUnsure)
	}
	return fmt.Sprintf("%v: %d line(s) stored (acknowledged) before it stopped, %d of them new; %s. "+
		"Run the same import again to resume: a line already stored is counted as a duplicate and stores nothing new "+
		"(the server remembers event ids for 24 hours)", s.why, s.stored, s.new, unsure)
}

func (s *importStopped) Unwrap() error { return s.why }

// importer loads NDJSON through Bus.SendBatchRaw, which validates each
// line against the contract (on every core) and stores its bytes unchanged,
// in file order: an export reproduces the file. Reading the next chunk
// overlaps publishing the current one, and a chunk is sent before the
// acknowledgements of the one before it are awaited. Every wait on the server is
// bounded: a server that stops answering for timeout stops the import with
// an *importStopped.
type importer struct {
	bus      *natsbus.Bus
	batch    int
	url      string        // the server, as the operator named it (default: the one connected)
	timeout  time.Duration // how long the server may go without answering (default defaultServerTimeout)
	errOut   io.Writer     // each rejected line, as it is found
	progress func(done int64, st ImportStats)
}

func (im *importer) run(ctx context.Context, r io.Reader) (ImportStats, error) {
	start := time.Now()
	var st ImportStats
	if im.timeout <= 0 {
		im.timeout = defaultServerTimeout
	}
	if im.url == "" {
		im.url = im.bus.Conn().ConnectedUrlRedacted()
	}
	// An interruption (parent done) stops the reading and the sending; the
	// acknowledgements of what was sent are still awaited, within the
	// server's time, so the count of lines stored is exact.
	parent := ctx
	ctx, stopWatch := watchServer(context.WithoutCancel(parent), im.bus.Conn(), im.url, im.timeout)
	defer stopWatch()
	chunks := make(chan *importChunk, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(chunks)
		lr := newLineReader(r, maxEventSize)
		c := &importChunk{}
		send := func() bool {
			select {
			case chunks <- c:
				c = &importChunk{}
				return true
			case <-ctx.Done():
				return false
			case <-parent.Done():
				return false
			}
		}
		for {
			raw, covered, err := lr.next()
			if err == io.EOF {
				break
			}
			c.bytes += covered
			var long *lineTooLongError
			switch {
			case errors.As(err, &long):
				c.tooLong = append(c.tooLong, long)
				continue
			case err != nil:
				readErr <- err
				return
			}
			line := bytes.TrimSpace(raw)
			if len(line) == 0 {
				continue
			}
			c.lines = append(c.lines, lr.line())
			c.docs = append(c.docs, bytes.Clone(line))
			c.held += len(line)
			if (len(c.docs) == im.batch || c.held >= importChunkBytes) && !send() {
				readErr <- context.Cause(ctx)
				return
			}
		}
		if len(c.docs) > 0 || len(c.tooLong) > 0 || c.bytes > 0 {
			send()
		}
		readErr <- nil
	}()
	var done int64
	var stopped *importStopped
	// settle takes a sent chunk's results: whatever was acknowledged is
	// counted, even after the server stopped answering.
	settle := func(c *importChunk, sent *natsbus.SentBatch) {
		for _, long := range c.tooLong {
			st.Rejected++
			fmt.Fprintf(im.errOut, "line %d: rejected: %v\n", long.line, long)
		}
		for i, res := range sent.Wait() {
			switch {
			case res.Err == nil && res.Ack.Duplicate:
				st.Duplicates++
			case res.Err == nil:
				st.Loaded++
			case res.Refused:
				st.Rejected++
				fmt.Fprintf(im.errOut, "line %d: rejected: %v\n", c.lines[i], res.Err)
			case stopped == nil:
				// Not the line's fault: the server did not acknowledge it.
				stopped = &importStopped{why: serverGone(ctx, im.url, im.timeout, res.Err), firstUnsure: c.lines[i]}
			}
		}
		done += c.bytes
		st.Elapsed = time.Since(start)
		if im.progress != nil {
			im.progress(done, st)
		}
	}
	// Each chunk is sent before the one before it is settled, so the
	// server stores one while the next is read and checked; chunks are
	// sent from this goroutine only, so they are stored in file order.
	var inflight *importChunk
	var inflightSent *natsbus.SentBatch
	for {
		var c *importChunk
		if stopped == nil && parent.Err() == nil {
			select {
			case c = <-chunks:
			case <-ctx.Done(): // the server went while the input was slow to come
			case <-parent.Done():
			}
		}
		var sent *natsbus.SentBatch
		if c != nil {
			sent = im.bus.SendBatchRaw(ctx, c.docs)
		}
		if inflight != nil {
			settle(inflight, inflightSent)
		}
		inflight, inflightSent = c, sent
		if inflight == nil {
			break
		}
	}
	st.Elapsed = time.Since(start)
	switch gone := new(serverGoneError); {
	case parent.Err() != nil: // interrupted by the operator; what was sent last may be unacknowledged
		if stopped == nil {
			stopped = &importStopped{}
		}
		stopped.why = errInterrupted
	case stopped == nil && errors.As(context.Cause(ctx), &gone):
		stopped = &importStopped{why: gone}
	}
	if stopped != nil {
		stopped.stored, stopped.new = st.Loaded+st.Duplicates, st.Loaded
		return st, stopped
	}
	if ctx.Err() != nil {
		return st, context.Cause(ctx)
	}
	return st, <-readErr
}

// isTerminal reports whether w is a character device (a person watching).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressPrinter draws a bar with the rate on a terminal, and otherwise a
// plain line at most every interval.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	total    int64 // bytes of input, 0 if unknown
	interval time.Duration
	last     time.Time
	drawn    bool
}

func (p *progressPrinter) update(done int64, st ImportStats) {
	now := time.Now()
	if now.Sub(p.last) < p.interval {
		return
	}
	p.last = now
	n := st.Loaded + st.Duplicates + st.Rejected
	rate := float64(n) / max(st.Elapsed.Seconds(), 1e-9)
	if !p.tty {
		fmt.Fprintf(p.w, "import: %d events (%d loaded, %d duplicates, %d rejected), %.0f events/s\n", n, st.Loaded, st.Duplicates, st.Rejected, rate)
		return
	}
	bar, pct := "", ""
	if p.total > 0 {
		frac := min(float64(done)/float64(p.total), 1)
		w := 30
		fill := int(frac * float64(w))
		bar = "[" + strings.Repeat("=", fill) + strings.Repeat(" ", w-fill) + "] "
		pct = fmt.Sprintf("%3.0f%% ", frac*100)
	}
	fmt.Fprintf(p.w, "\r\033[K%s%s%d events, %.0f events/s", bar, pct, n, rate)
	p.drawn = true
}

// lineWriter clears the progress bar before a message, so a rejected line
// is readable on a terminal.
type lineWriter struct {
	p *progressPrinter
}

func (l lineWriter) Write(b []byte) (int, error) {
	if l.p.tty && l.p.drawn {
		fmt.Fprint(l.p.w, "\r\033[K")
		l.p.drawn = false
		l.p.last = time.Time{}
	}
	return l.p.w.Write(b)
}

func cmdImport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "import", "[flags] FILE.ndjson|-")
	var cf connFlags
	cf.register(fs)
	cf.registerTimeout(fs)
	batch := fs.Int("batch", 4000, "events handed to the bus together (validated a slice at a time while the last is stored)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"give one FILE.ndjson, or - for standard input"}
	}
	if *batch < 1 {
		return usageError{"--batch must be at least 1"}
	}
	in, err := openInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	defer in.Close()
	bus, err := toolBus(&cf)
	if err != nil {
		return err
	}
	defer bus.Conn().Drain()
	pp := &progressPrinter{w: e.stderr, tty: isTerminal(e.stderr), interval: 2 * time.Second, last: time.Now()}
	if pp.tty {
		pp.interval = 100 * time.Millisecond
	}
	if f, ok := in.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			pp.total = fi.Size()
		}
	}
	im := &importer{bus: bus, batch: *batch, url: cf.url, timeout: cf.timeout, errOut: lineWriter{pp}, progress: pp.update}
	st, err := im.run(ctx, in)
	if pp.drawn {
		fmt.Fprintln(e.stderr)
	}
	rate := float64(st.Loaded+st.Duplicates+st.Rejected) / max(st.Elapsed.Seconds(), 1e-9)
	fmt.Fprintf(e.stdout, "%d loaded, %d duplicates, %d rejected in %s (%.0f events/s)\n",
		st.Loaded, st.Duplicates, st.Rejected, st.Elapsed.Round(time.Millisecond), rate)
	if err != nil {
		return err
	}
	if st.Rejected > 0 {
		return fmt.Errorf("%d line(s) rejected", st.Rejected)
	}
	return nil
}

// exportEvents writes every stored event whose time falls in r (all events
// when r is nil) to w, one per line, exactly as stored, in stream order.
// With a range, a stored message whose time cannot be read (not JSON: any
// agency's user can store raw bytes under its own prefix, and the stream
// denies deletes) cannot be placed in it: it is passed to setAside with the
// reason, naming no value, and the export goes on.
func exportEvents(ctx context.Context, bus *natsbus.Bus, r *reports.Range, w io.Writer, setAside func(s natsbus.Stored, reason string)) (int, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	n := 0
	err := bus.ReplayRaw(ctx, natsbus.ReplayConfig{}, func(s natsbus.Stored) error {
		t, reason := exportable(s)
		if reason != "" {
			setAside(s, reason)
			return nil
		}
		if r != nil && !r.Contains(reports.MonthOf(t)) {
			return nil
		}
		n++
		if _, err := bw.Write(s.Raw); err != nil {
			return err
		}
		return bw.WriteByte('\n')
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// exportable reads the time of a stored event, or says why it is not one
// an export may carry: the reason never repeats what the message holds.
// An export is imported back by an operator with every agency's rights, so
// it carries only what could have been published as it stands: one line
// of JSON whose envelope belongs on the subject it was stored on. A
// message an agency's user stored on its own subject with another
// agency's event in it, or with lines of its own, is set aside, never
// handed to the import to publish under the other agency.
func exportable(s natsbus.Stored) (time.Time, string) {
	if bytes.ContainsAny(s.Raw, "\n\r") {
		return time.Time{}, "not one line"
	}
	var env struct {
		ID       string          `json:"id"`
		Source   events.Agency   `json:"source"`
		Type     string          `json:"type"`
		Subject  string          `json:"subject"`
		ToAgency events.Agency   `json:"toagency"`
		Time     json.RawMessage `json:"time"`
	}
	if err := json.Unmarshal(s.Raw, &env); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return time.Time{}, "not JSON"
		}
		return time.Time{}, "not an event's envelope"
	}
	subject, err := events.Subject(events.Event{ID: env.ID, Source: env.Source, Type: env.Type, Subject: env.Subject, ToAgency: env.ToAgency})
	if err != nil || subject != s.Subject {
		return time.Time{}, "its envelope does not belong on the subject it was stored on"
	}
	if len(env.Time) == 0 || string(env.Time) == "null" {
		return time.Time{}, "no time"
	}
	var t time.Time
	if err := t.UnmarshalJSON(env.Time); err != nil {
		return time.Time{}, "its time is not an RFC 3339 date-time"
	}
	return t, ""
}

func cmdExport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "export", "[--from YYYY-MM --to YYYY-MM] [-o FILE.ndjson]")
	var cf connFlags
	cf.register(fs)
	cf.registerTimeout(fs)
	from := fs.String("from", "", "first month (YYYY-MM, Europe/London) of the events' time; default the first stored")
	to := fs.String("to", "", "last month (YYYY-MM, Europe/London); default the last stored")
	out := fs.String("o", "-", "output file (- for standard output)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	var rng *reports.Range
	if *from != "" || *to != "" {
		if *from == "" {
			*from = "0001-01"
		}
		if *to == "" {
			*to = "9999-12"
		}
		r, err := reports.ParseRange(*from, *to)
		if err != nil {
			return usageError{err.Error()}
		}
		rng = &r
	}
	bus, err := toolBus(&cf)
	if err != nil {
		return err
	}
	defer bus.Conn().Close()
	w := e.stdout
	incomplete := "the output is incomplete"
	var file *wholeFile
	if *out != "-" {
		if file, err = createWhole(*out); err != nil {
			return err
		}
		defer file.discard()
		w = file
		incomplete = *out + " was not written (a file already there is kept as it was)"
	}
	wctx, stop := watchServer(ctx, bus.Conn(), cf.url, cf.timeout)
	defer stop()
	aside := 0
	n, err := exportEvents(wctx, bus, rng, w, func(s natsbus.Stored, reason string) {
		aside++
		fmt.Fprintf(e.stderr, "stream sequence %d on %s set aside (not an event an import may publish again): %s\n", s.Seq, s.Subject, reason)
	})
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("%w before it finished; %s", errInterrupted, incomplete)
	case err != nil && wctx.Err() != nil:
		return fmt.Errorf("%w: %d event(s) read before it stopped; %s, export again", serverGone(wctx, cf.url, cf.timeout, err), n, incomplete)
	case err != nil:
		return fmt.Errorf("%w; %s", err, incomplete)
	}
	if file != nil {
		if err := file.keep(); err != nil {
			return fmt.Errorf("%s: %w; %s", *out, err, incomplete)
		}
	}
	summary := fmt.Sprintf("%d events exported", n)
	if *out != "-" {
		summary = fmt.Sprintf("%d events written to %s", n, *out)
	}
	if aside > 0 {
		summary += fmt.Sprintf(", %d stored message(s) set aside", aside)
	}
	if *out != "-" {
		fmt.Fprintln(e.stdout, summary)
	} else {
		fmt.Fprintln(e.stderr, summary)
	}
	if aside > 0 {
		// As import does for a rejected line: the rest is done, and the
		// exit code says something was left out.
		return fmt.Errorf("%d stored message(s) set aside, named above: none is an event an import may publish again; every stored event was written", aside)
	}
	return nil
}

// wholeFile is an output file written under a temporary name beside it
// (readable by its owner only: an export holds what people said) and put
// in its place only once whole, so a command that stops leaves no half
// file where the whole one was to be, and a file already there as it was.
type wholeFile struct {
	*os.File
	path string
	kept bool
}

func createWhole(path string) (*wholeFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return nil, err
	}
	return &wholeFile{File: f, path: path}, nil
}

// keep puts the file, on disk, in its place.
func (w *wholeFile) keep() error {
	if err := w.Sync(); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := os.Rename(w.Name(), w.path); err != nil {
		return err
	}
	w.kept = true
	return nil
}

// discard removes the file unless it was kept.
func (w *wholeFile) discard() {
	if !w.kept {
		_ = w.Close()
		_ = os.Remove(w.Name())
	}
}
