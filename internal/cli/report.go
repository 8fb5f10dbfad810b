package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crisisbus/crisisbus/services/reports"
)

func init() {
	commands["report"] = command{"report NAME --from YYYY-MM --to YYYY-MM: a partnership table (" + strings.Join(reports.Names, ", ") + ", or all) from the console's newest snapshot of the reports and the events stored since, or rebuilt from the whole stream", cmdReport}
}

// maxReportMonths bounds a report's columns.
const maxReportMonths = 600

func cmdReport(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "report", "NAME --from YYYY-MM --to YYYY-MM [--format table|csv|json] [--rebuild]\n  NAME is one of "+strings.Join(reports.Names, ", ")+", or all")
	var cf connFlags
	cf.register(fs)
	cf.registerTimeout(fs)
	from := fs.String("from", "", "first month, YYYY-MM (Europe/London)")
	to := fs.String("to", "", "last month, YYYY-MM (Europe/London)")
	format := fs.String("format", "table", "table, csv or json")
	full := fs.Bool("rebuild", false, "read the whole stream, not the console's newest snapshot of the reports and the events after it")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	names := []string{name}
	switch {
	case name == "":
		return usageError{"name a report: " + strings.Join(reports.Names, ", ") + ", or all"}
	case name == "all":
		names = reports.Names
	case !slices.Contains(reports.Names, name):
		return usageError{fmt.Sprintf("unknown report %q (want one of %s, or all)", name, strings.Join(reports.Names, ", "))}
	}
	if !slices.Contains(reports.Formats, *format) {
		return usageError{fmt.Sprintf("--format %q: want one of %s", *format, strings.Join(reports.Formats, ", "))}
	}
	if *from == "" || *to == "" {
		return usageError{"give --from and --to (YYYY-MM)"}
	}
	rng, err := reports.ParseRange(*from, *to)
	if err != nil {
		return usageError{err.Error()}
	}
	if rng.Len() > maxReportMonths {
		return usageError{fmt.Sprintf("%s to %s is %d months; at most %d", rng.From, rng.To, rng.Len(), maxReportMonths)}
	}
	bus, err := toolBus(&cf)
	if err != nil {
		return err
	}
	defer bus.Conn().Close()
	wctx, stop := watchServer(ctx, bus.Conn(), cf.url, cf.timeout)
	defer stop()
	var snaps *reports.Snapshots
	serr := errors.New("--rebuild given")
	if !*full {
		if snaps, serr = reports.OpenSnapshots(wctx, bus.JetStream()); serr != nil {
			snaps = nil
		}
	}
	proj, src, err := reports.Build(wctx, bus, snaps)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return fmt.Errorf("%w while the report was read from the stream: no table was made", serverGone(wctx, cf.url, cf.timeout, err))
	}
	if err != nil {
		return err
	}
	if serr != nil {
		src.NotUsed = []string{serr.Error()}
	}
	fmt.Fprintf(e.stderr, "counted %s\n", src) // stderr: the tables on stdout stay as they were
	if n := proj.Duplicates(); n > 0 {
		fmt.Fprintf(e.stderr, "%d event(s) stored more than once (loaded again after the stream's duplicate window) were counted once\n", n)
	}
	for _, s := range proj.Skipped() {
		fmt.Fprintf(e.stderr, "stream sequence %d not counted: %s\n", s.Seq, s.Reason)
	}
	for i, n := range names {
		t, err := proj.Report(n, rng)
		if err != nil {
			return err
		}
		if i > 0 && *format != "json" {
			fmt.Fprintln(e.stdout)
		}
		if err := reports.Write(e.stdout, t, *format); err != nil {
			return err
		}
	}
	return nil
}
