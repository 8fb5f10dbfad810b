package reports

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats a report can be written in.
var Formats = []string{"table", "csv", "json"}

// Write writes the table as format: "table" (aligned text for a terminal),
// "csv" (a header row, then one row per measure) or "json".
func Write(w io.Writer, t Table, format string) error {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(append([]string{t.Corner}, t.Columns...))
		for _, r := range t.Rows {
			_ = cw.Write(append([]string{r.Label}, r.Cells...))
		}
		cw.Flush()
		return cw.Error()
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	case "table", "":
		fmt.Fprintf(w, "%s\n\n", t.Title)
		// Labels read left-aligned, figures right-aligned under their column.
		width := len(t.Corner)
		for _, r := range t.Rows {
			width = max(width, len(r.Label))
		}
		cols := make([]int, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = len(c)
			for _, r := range t.Rows {
				if i < len(r.Cells) {
					cols[i] = max(cols[i], len(r.Cells[i]))
				}
			}
		}
		line := func(label string, cells []string) {
			fmt.Fprintf(w, "%-*s", width, label)
			for i, c := range cells {
				fmt.Fprintf(w, "  %*s", cols[i], c)
			}
			fmt.Fprintln(w)
		}
		line(t.Corner, t.Columns)
		for _, r := range t.Rows {
			line(r.Label, r.Cells)
		}
		_, err := fmt.Fprintf(w, "\n%s\n", t.Caption)
		return err
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}
