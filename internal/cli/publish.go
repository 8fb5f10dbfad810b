package cli

import (
	"bytes"
	"context"
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
)

// readEvents calls f for each event in r: a single JSON document (which may
// span lines) or NDJSON (one event per line; blank lines are skipped). line is
// the 1-based line the event starts on. A line (or a document) longer than
// maxEventSize is not read into memory: f gets a *lineTooLongError for it
// instead of its bytes, and the lines after it are read as usual.
func readEvents(r io.Reader, f func(line int, raw []byte, tooLong error) error) error {
	lr := newLineReader(r, maxEventSize)
	var doc []byte // a pretty-printed document, read whole
	docLine, docSize, seen := 0, int64(0), false
	for {
		line, covered, err := lr.next()
		if err == io.EOF {
			break
		}
		var long *lineTooLongError
		if errors.As(err, &long) && doc == nil {
			seen = true
			if err := f(long.line, nil, long); err != nil {
				return err
			}
			continue
		}
		if err != nil && !errors.As(err, &long) {
			return err
		}
		if doc != nil { // the rest of one document
			docSize += covered
			if docSize <= maxEventSize {
				doc = append(append(doc, '\n'), line...)
			}
			continue
		}
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 {
			continue
		}
		if !seen && !jsonComplete(trimmed) {
			// One pretty-printed document: its first line alone is not a
			// whole event.
			doc, docLine, docSize = append([]byte(nil), trimmed...), lr.line(), covered
			continue
		}
		seen = true
		if err := f(lr.line(), append([]byte(nil), trimmed...), nil); err != nil {
			return err
		}
	}
	if doc != nil {
		if docSize > maxEventSize {
			return f(docLine, nil, &lineTooLongError{line: docLine, size: docSize, limit: maxEventSize})
		}
		return f(docLine, bytes.TrimSpace(doc), nil)
	}
	if !seen {
		return errors.New("no events in input")
	}
	return nil
}

// jsonComplete reports whether b holds a whole JSON value.
func jsonComplete(b []byte) bool {
	b = bytes.TrimSpace(b)
	depth, inStr, esc := 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	return depth == 0 && !inStr && len(b) > 0
}

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
// user, so the server checks authorship), or one bus as --user.
type buses struct {
	cf    *connFlags
	creds broker.Credentials
	open  map[events.Agency]*natsbus.Bus
}

func (b *buses) get(a events.Agency) (*natsbus.Bus, error) {
	user, as := a, a
	if b.cf.user != "" {
		user = events.Agency(b.cf.user)
		as, _ = events.ParseAgency(b.cf.user) // "" for a user such as admin that publishes for any agency
		// A crisisbus identity that may not publish this agency's events is
		// told so now, not left to wait for acknowledgements the server
		// will never send.
		if id, err := rights.Lookup(b.cf.user); err == nil && !id.All && id.Publishes != a {
			if id.Publishes == "" {
				return nil, fmt.Errorf("user %s may publish no events (it is %s): publish as the event's agency (--user %s) or with --data", b.cf.user, id.About, a)
			}
			return nil, fmt.Errorf("user %s may publish only %s's events, not %s's: publish as --user %s", b.cf.user, id.Publishes, a, a)
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
	err = readEvents(in, func(line int, raw []byte, tooLong error) error {
		if tooLong != nil {
			failed++
			fmt.Fprintf(e.stderr, "line %d: rejected: %v\n", line, tooLong)
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
	err = readEvents(in, func(line int, raw []byte, tooLong error) error {
		if tooLong != nil {
			bad++
			fmt.Fprintf(e.stderr, "line %d: invalid: %v\n", line, tooLong)
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
