package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxEventSize bounds one line of input, and one event (the server's max
// payload is 4 MiB).
const maxEventSize = 4 << 20

// lineTooLongError is a line of input longer than one event may be: it is
// named and skipped, and the lines around it are read as usual.
type lineTooLongError struct {
	line  int
	size  int64 // bytes of the line, without its newline
	limit int
}

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("%d bytes (%s), over the limit of %d bytes (%s) for one event; skipped",
		e.size, mib(e.size), e.limit, mib(int64(e.limit)))
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// lineReader reads input line by line, holding at most limit bytes of a
// line: the rest of a longer line is read past and dropped, never held, so
// a 50 MB line costs no more memory than a short one.
type lineReader struct {
	r     *bufio.Reader
	limit int
	n     int    // lines read so far
	buf   []byte // the current line
}

func newLineReader(r io.Reader, limit int) *lineReader {
	// One buffer for the longest line allowed, reused for every line.
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), limit: limit, buf: make([]byte, 0, limit+2)}
}

// next returns the next line without its line ending (valid until the next
// call), and how many bytes of input it covered. A line over the limit is
// consumed and returned as a *lineTooLongError with no bytes. At the end of
// the input it returns io.EOF.
func (l *lineReader) next() (line []byte, covered int64, err error) {
	l.buf = l.buf[:0]
	over := false
	var last byte
	for {
		chunk, rerr := l.r.ReadSlice('\n')
		covered += int64(len(chunk))
		if len(chunk) > 0 {
			last = chunk[len(chunk)-1]
		}
		if !over {
			if len(l.buf)+len(chunk) > l.limit+2 { // room for "\r\n"
				over, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, chunk...)
			}
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if rerr == io.EOF && covered == 0 {
			return nil, 0, io.EOF
		}
		if rerr != nil && rerr != io.EOF {
			return nil, covered, fmt.Errorf("line %d: %w", l.n+1, rerr)
		}
		break
	}
	l.n++
	if !over {
		line = bytes.TrimRight(l.buf, "\r\n")
		if len(line) <= l.limit {
			return line, covered, nil
		}
	}
	size := covered
	if last == '\n' {
		size--
	}
	return nil, covered, &lineTooLongError{line: l.n, size: size, limit: l.limit}
}

// line is the number of the line last returned (1-based).
func (l *lineReader) line() int { return l.n }
