// Package cli is the crisisbus command line: one function per subcommand,
// each parsing its flags and handing off to the packages that do the work.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// env is what every subcommand gets.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands maps each subcommand to its function. Commands in other files of
// this package add themselves in an init func.
var commands = map[string]command{
	"up":      {"run the whole system on an embedded NATS server (the default)", cmdUp},
	"publish": {"validate and publish CloudEvents JSON (one event or NDJSON) from FILE or -", cmdPublish},
	"schema":  {"schema validate FILE|-: check events against the contract offline; schema asyncapi: print the AsyncAPI document; schema envelope: print the envelope schema (schemas/cloudevent.json)", cmdSchema},
}

// usageError is a mistake in the command line: printed with the usage, exit 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// Run runs the command line args and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "crisisbus: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(ctx, e, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil && !errors.Is(err, errInterrupted) {
			// What it did before is in what it printed.
			err = fmt.Errorf("%w before it finished", errInterrupted)
		}
		fmt.Fprintf(stderr, "crisisbus %s: %v\n", args[0], err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "crisisbus: multi-agency crisis coordination on NATS JetStream")
	fmt.Fprintln(w, "\nUsage: crisisbus <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun `crisisbus <command> -h` for a command's flags.")
}

func newFlags(e env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("crisisbus "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: crisisbus %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags wherever they stand among the arguments, so
// `crisisbus publish FILE --nats URL` works as people type it; fs.Args() are
// then the other arguments, in order ("--" ends the flags).
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// newLogger logs to w with the level given (debug, info, warn, error), in
// the format given: console (readable lines) or json (zap's JSON encoder:
// one object a line, with time, level, logger, msg and the fields, the
// episode id among them where there is one, for a cluster's log collector).
func newLogger(w io.Writer, level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.Set(strings.ToLower(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level: %v", err)}
	}
	var enc zapcore.Encoder
	switch strings.ToLower(format) {
	case "console", "":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(cfg)
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.TimeKey, cfg.EncodeTime = "time", zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	default:
		return nil, usageError{fmt.Sprintf("--log-format: %q is not a log format (want console or json)", format)}
	}
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), lvl)), nil
}
