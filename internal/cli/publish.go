package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/record"
)

// readEvents calls f for each event in r: a single JSON document (which may
// span lines) or NDJSON (one event per line; blank lines are skipped). line is
// the 1-based line the event starts on. A line (or a document) that cannot be
// an event is not passed as bytes: f gets an error saying why instead (a
// *lineTooLongError for one longer than maxEventSize, which is never read
// into memory), and the lines after it are read as usual.
//
// A first line that is not a whole JSON value starts a pretty-printed
// event, or is an NDJSON line cut short: the lines after it are held (at
// most maxEventSize of them) until they make one valid JSON document with
// it, or show it was not one (a line of its own is a whole JSON object).
// Then the first line alone is rejected as cut short and the lines held are
// read as NDJSON, so one bad first line never costs the good lines after it.
func readEvents(r io.Reader, f func(line int, raw []byte, bad error) error) error {
	lr := newLineReader(r, maxEventSize)
	var doc *heldDoc // the first line was not a whole JSON value
	seen := false
	// each passes one line of NDJSON to f.
	each := func(line int, raw []byte, long *lineTooLongError) error {
		if long != nil {
			seen = true
			return f(line, nil, long)
		}
		trimmed := bytes.TrimSpace(raw)
		if len(trimmed) == 0 {
			return nil
		}
		seen = true
		return f(line, trimmed, nil)
	}
	// settle hands on what doc holds, once it is known what it is.
	settle := func(atEOF bool) error {
		d := doc
		doc = nil
		seen = true
		whole := d.scan.complete() || d.scan.broken() // nothing more can change what it is
		switch {
		case whole && json.Valid(d.joined()):
			return f(d.first, bytes.TrimSpace(d.joined()), nil)
		case d.ndjson:
			if err := f(d.first, nil, errFirstLineCutShort); err != nil {
				return err
			}
			for _, l := range d.lines[1:] {
				if err := each(l.n, l.raw, l.long); err != nil {
					return err
				}
			}
			return nil
		case d.size > maxEventSize:
			// One document, too long to be an event: the rest of the input
			// is read past as part of it, never held.
			d.lines = nil
			doc = d
			return nil
		case whole:
			return f(d.first, bytes.TrimSpace(d.joined()), nil) // the contract says what is wrong
		case atEOF:
			return f(d.first, nil, errDocCutShort)
		}
		doc = d // not known yet
		return nil
	}
	for {
		raw, covered, err := lr.next()
		if err == io.EOF {
			break
		}
		var long *lineTooLongError
		if err != nil && !errors.As(err, &long) {
			return err
		}
		switch {
		case doc != nil && doc.lines == nil: // the rest of a document too long
			doc.size += covered
			continue
		case doc != nil:
			doc.add(lr.line(), raw, covered, long)
			if doc.scan.complete() || doc.scan.broken() || doc.size > maxEventSize {
				if err := settle(false); err != nil {
					return err
				}
			}
			continue
		}
		trimmed := bytes.TrimSpace(raw)
		if !seen && long == nil && len(trimmed) > 0 {
			var sc jsonScan
			if sc.feed(trimmed); !sc.complete() && !sc.broken() {
				doc = &heldDoc{first: lr.line(), lines: []heldLine{{n: lr.line(), raw: bytes.Clone(trimmed)}}, scan: sc, size: covered}
				continue
			}
		}
		if err := each(lr.line(), raw, long); err != nil {
			return err
		}
	}
	if doc != nil && doc.lines == nil {
		return f(doc.first, nil, &lineTooLongError{line: doc.first, size: doc.size, limit: maxEventSize})
	}
	if doc != nil {
		if err := settle(true); err != nil {
			return err
		}
	}
	if !seen {
		return errors.New("no events in input")
	}
	return nil
}

var (
	errFirstLineCutShort = errors.New("not a whole event: the line ends before its JSON does (cut short?); the lines after it were read as events of their own")
	errDocCutShort       = errors.New("not a whole event: the input ends before the JSON that starts on this line does (cut short?)")
)

// heldDoc is what readEvents holds after a first line that is not a whole
// JSON value: the lines read since, until it is known whether they are one
// pretty-printed event.
type heldDoc struct {
	first  int        // the line it starts on
	lines  []heldLine // the first line and those after it; nil once too long
	size   int64      // bytes of input covered
	scan   jsonScan   // of the lines as one document
	ndjson bool       // a line after the first is a whole JSON object of its own
}

type heldLine struct {
	n    int
	raw  []byte
	long *lineTooLongError
}

func (d *heldDoc) add(n int, raw []byte, covered int64, long *lineTooLongError) {
	d.size += covered
	if long != nil {
		d.lines = append(d.lines, heldLine{n: n, long: long})
		return
	}
	trimmed := bytes.TrimSpace(raw)
	d.lines = append(d.lines, heldLine{n: n, raw: bytes.Clone(trimmed)})
	d.scan.feed([]byte{'\n'})
	d.scan.feed(trimmed)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		d.ndjson = true
	}
}

// joined is the lines held as one document.
func (d *heldDoc) joined() []byte {
	var b []byte
	for i, l := range d.lines {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, l.raw...)
	}
	return b
}

// jsonScan follows the nesting of JSON fed to it a piece at a time.
type jsonScan struct {
	depth       int
	inStr, esc  bool
	closedEarly bool // a bracket closed that was never opened
	fed         bool
}

func (s *jsonScan) feed(b []byte) {
	for _, c := range b {
		switch {
		case s.esc:
			s.esc = false
		case s.inStr && c == '\\':
			s.esc = true
		case c == '"':
			s.inStr = !s.inStr
		case s.inStr:
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			if s.depth--; s.depth < 0 {
				s.closedEarly = true
			}
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			s.fed = true
		}
	}
}

// complete reports whether what was fed is a whole JSON value, as far as
// its nesting shows.
func (s *jsonScan) complete() bool { return s.fed && s.depth == 0 && !s.inStr && !s.closedEarly }

// broken reports whether what was fed can never become a whole JSON value.
func (s *jsonScan) broken() bool { return s.closedEarly }

func openInput(e env, name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(e.stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// connFlags are how a tool reaches NATS: the embedded default's data
// directory (for its credentials) or an external URL with a user.
type connFlags struct {
	url, data, user string
	password        passwordFlag
	timeout         time.Duration
}

func (c *connFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&c.url, "nats", "nats://127.0.0.1:4222", "NATS URL(s), comma-separated")
	fs.StringVar(&c.data, "data", "data", "data directory of `crisisbus up` (its credentials.json gives each agency's user)")
	fs.StringVar(&c.user, "user", "", "NATS user (instead of the data directory's credentials; an agency user publishes only its own events)")
	c.password.register(fs, "NATS password for --user")
}

// registerTimeout adds --timeout, for the tools whose every wait on the
// server it bounds (import, publish, export, report).
func (c *connFlags) registerTimeout(fs interface {
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.DurationVar(&c.timeout, "timeout", defaultServerTimeout, "how long the NATS server may go without answering (an acknowledgement, a PING) before the command stops and says how far it got")
}

// busOptions bound every wait of a tool's bus on the server: an
// acknowledgement, a request.
func (c *connFlags) busOptions() []jetstream.JetStreamOpt {
	return []jetstream.JetStreamOpt{jetstream.WithPublishAsyncTimeout(c.timeout), jetstream.WithDefaultTimeout(c.timeout)}
}

// check refuses a --timeout that cannot be waited.
func (c *connFlags) check() error {
	if c.timeout <= 0 {
		return usageError{"--timeout must be positive"}
	}
	return nil
}

// credentials returns the users this tool may connect as.
func (c *connFlags) credentials() (broker.Credentials, error) {
	if c.user != "" {
		pw, ok, err := c.password.get()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, usageError{fmt.Sprintf("--user %s needs its password: --password-file FILE or $%s", c.user, PasswordEnv)}
		}
		return broker.Credentials{c.user: pw}, nil
	}
	return broker.LoadCredentials(c.data)
}

// connect opens a connection as agency a's user, or as --user when given.
func (c *connFlags) connect(a events.Agency) (*nats.Conn, error) {
	creds, err := c.credentials()
	if err != nil {
		return nil, err
	}
	user := a
	if c.user != "" {
		user = events.Agency(c.user)
	}
	return broker.ConnectAs(c.url, creds, user)
}

// buses opens one bus per agency on demand (each connects as that agency's
// integration user, or the record's or the clock's own, so the server
// checks authorship), or one bus as --user.
type buses struct {
	cf    *connFlags
	creds broker.Credentials
	open  map[events.Agency]*natsbus.Bus
}

func (b *buses) get(a events.Agency) (*natsbus.Bus, error) {
	user, as := a, a
	if a.Pathway() {
		// A tool is one of the agency's own systems, not its service.
		user = events.Agency(rights.IntegrationUser(a))
	}
	if b.cf.user != "" {
		user = events.Agency(b.cf.user)
		as, _ = events.ParseAgency(b.cf.user) // "" for a user such as admin that publishes for any agency
		id, err := rights.Lookup(b.cf.user)
		if err == nil && !id.All {
			as = id.Publishes // an agency's own systems publish as the agency
		}
		// A crisisbus identity that may not publish this agency's events is
		// told so now, not left to wait for acknowledgements the server
		// will never send.
		if err == nil && !id.All && id.Publishes != a {
			if id.Publishes == "" {
				return nil, fmt.Errorf("user %s may publish no events (it is %s): publish as the event's agency's systems (--user %s) or with --data", b.cf.user, id.About, rights.IntegrationUser(a))
			}
			return nil, fmt.Errorf("user %s may publish only %s's events, not %s's: publish as --user %s", b.cf.user, id.Publishes, a, rights.IntegrationUser(a))
		}
	}
	if bus, ok := b.open[user]; ok {
		return bus, nil
	}
	nc, err := broker.ConnectAs(b.cf.url, b.creds, user)
	if err != nil {
		return nil, err
	}
	bus, err := natsbus.NewBus(nc, as, nil, b.cf.busOptions()...)
	if err != nil {
		return nil, err
	}
	if as.Pathway() {
		// An agency may not read the stream: the record says whether
		// an event answered as a repeat was the agency's own.
		bus.CheckRepeatsWith(record.RepeatChecker(bus))
	}
	b.open[user] = bus
	return bus, nil
}

func (b *buses) close() {
	for _, bus := range b.open {
		_ = bus.Conn().Drain()
	}
}

func cmdPublish(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "publish", "[flags] FILE|-")
	var cf connFlags
	cf.register(fs)
	cf.registerTimeout(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"give one FILE, or - for standard input"}
	}
	if err := cf.check(); err != nil {
		return err
	}
	in, err := openInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	defer in.Close()
	creds, err := cf.credentials()
	if err != nil {
		return err
	}
	bs := &buses{cf: &cf, creds: creds, open: map[events.Agency]*natsbus.Bus{}}
	defer bs.close()
	var published, duplicates, failed int
	err = readEvents(in, func(line int, raw []byte, bad error) error {
		if bad != nil {
			failed++
			fmt.Fprintf(e.stderr, "line %d: rejected: %v\n", line, bad)
			return nil
		}
		ev, err := events.Parse(raw)
		if err != nil {
			failed++
			fmt.Fprintf(e.stderr, "line %d: rejected: %v\n", line, err)
			return nil
		}
		bus, err := bs.get(ev.Source)
		if err != nil {
			return err
		}
		// Each event waits for the server under a watch of its connection,
		// so a server that dies ends the wait within --timeout.
		wctx, stop := watchServer(ctx, bus.Conn(), cf.url, cf.timeout)
		ack, err := bus.Publish(wctx, ev)
		stop()
		var apiErr *jetstream.APIError
		switch {
		case err == nil && ack.Duplicate:
			duplicates++
			fmt.Fprintf(e.stdout, "line %d: %s %s already stored at sequence %d (duplicate, not stored again)\n", line, ev.ID, ev.Type, ack.Sequence)
		case err == nil:
			published++
			fmt.Fprintf(e.stdout, "line %d: %s %s stored at sequence %d\n", line, ev.ID, ev.Type, ack.Sequence)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, events.ErrNotAuthor), errors.As(err, &apiErr):
			failed++ // this event is refused; the next may be stored
			fmt.Fprintf(e.stderr, "line %d: rejected: %v\n", line, err)
		default:
			return fmt.Errorf("%w: %d event(s) stored (acknowledged) before it stopped, %d of them new; line %d was not acknowledged and nothing after it was sent; "+
				"publish the same file again to resume: an event already stored is a duplicate and stores nothing new",
				serverGone(wctx, cf.url, cf.timeout, err), published+duplicates, published, line)
		}
		return nil
	})
	fmt.Fprintf(e.stdout, "%d published, %d duplicates, %d rejected\n", published, duplicates, failed)
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d event(s) rejected", failed)
	}
	return nil
}

func cmdSchema(ctx context.Context, e env, args []string) error {
	if len(args) == 1 && args[0] == "envelope" {
		doc, err := events.EnvelopeSchema()
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(doc)
		return err
	}
	if len(args) == 1 && args[0] == "asyncapi" {
		doc, err := system.AsyncAPI()
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(doc)
		return err
	}
	if len(args) == 2 && args[0] == "commands" {
		return writeCommandSchemas(e, args[1])
	}
	if len(args) == 0 || args[0] != "validate" {
		return usageError{"usage: crisisbus schema validate FILE|-   or   crisisbus schema asyncapi   or   crisisbus schema envelope   or   crisisbus schema commands DIR"}
	}
	fs := newFlags(e, "schema validate", "FILE|-")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"give one FILE, or - for standard input"}
	}
	in, err := openInput(e, fs.Arg(0))
	if err != nil {
		return err
	}
	defer in.Close()
	var ok, bad int
	err = readEvents(in, func(line int, raw []byte, unread error) error {
		if unread != nil {
			bad++
			fmt.Fprintf(e.stderr, "line %d: invalid: %v\n", line, unread)
			return nil
		}
		ev, err := events.Parse(raw)
		if err != nil {
			bad++
			fmt.Fprintf(e.stderr, "line %d: invalid: %v\n", line, err)
			return nil
		}
		ok++
		fmt.Fprintf(e.stdout, "line %d: valid %s %s\n", line, ev.Type, ev.ID)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d valid, %d invalid\n", ok, bad)
	if bad > 0 {
		return fmt.Errorf("%d invalid event(s)", bad)
	}
	return nil
}

// writeCommandSchemas writes the schema of every command's request and
// reply into dir (schemas/commands), removing the schemas of types no
// command uses any more.
func writeCommandSchemas(e env, dir string) error {
	files, err := system.CommandSchemas()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, keep := files[filepath.Base(f)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed %s\n", f)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "%d command schemas in %s\n", len(files), dir)
	return nil
}
