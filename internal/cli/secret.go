package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Passwords never come from the command line, where every user of the
// machine reads them in `ps`: a NATS password comes from a file
// (--password-file) or the environment (CRISISBUS_PASSWORD); a console
// person's from the terminal without echo, the environment
// (CRISISBUS_USER_PASSWORD) or one line of standard input. --password is
// kept for old scripts, with a warning.
const (
	PasswordEnv     = "CRISISBUS_PASSWORD"
	UserPasswordEnv = "CRISISBUS_USER_PASSWORD"
)

// passwordFlag is a NATS password given as a file, the environment or,
// deprecated, a flag.
type passwordFlag struct {
	value, file string
	warn        io.Writer
}

func (p *passwordFlag) register(fs interface {
	StringVar(*string, string, string, string)
}, what string) {
	fs.StringVar(&p.file, "password-file", "", "file holding the "+what+" (its first line), or set $"+PasswordEnv)
	fs.StringVar(&p.value, "password", "", "deprecated: the "+what+" on the command line shows in `ps`; use --password-file or $"+PasswordEnv)
	if o, ok := fs.(interface{ Output() io.Writer }); ok {
		p.warn = o.Output()
	}
}

// get returns the password and whether one was given: --password-file
// first, then $CRISISBUS_PASSWORD, then --password (with a warning).
func (p *passwordFlag) get() (string, bool, error) {
	switch {
	case p.file != "":
		raw, err := os.ReadFile(p.file)
		if err != nil {
			return "", false, fmt.Errorf("--password-file: %w", err)
		}
		pw, _, _ := strings.Cut(string(raw), "\n")
		pw = strings.TrimSuffix(pw, "\r")
		if pw == "" {
			return "", false, fmt.Errorf("--password-file %s: the first line is empty", p.file)
		}
		return pw, true, nil
	case os.Getenv(PasswordEnv) != "":
		return os.Getenv(PasswordEnv), true, nil
	case p.value != "":
		if p.warn != nil {
			fmt.Fprintf(p.warn, "warning: --password shows the password to everyone on this machine (ps); use --password-file FILE or $%s\n", PasswordEnv)
		}
		return p.value, true, nil
	}
	return "", false, nil
}

// readSecret reads a console person's new password: $CRISISBUS_USER_PASSWORD
// when set, else from the terminal without echo (asked twice), else the
// first line of in.
func readSecret(in io.Reader, prompt io.Writer) (string, error) {
	if pw := os.Getenv(UserPasswordEnv); pw != "" {
		return pw, nil
	}
	if f, ok := in.(*os.File); ok && isTTY(f) {
		first, err := readNoEcho(f, prompt, "New password: ")
		if err != nil {
			return "", err
		}
		again, err := readNoEcho(f, prompt, "The same password again: ")
		if err != nil {
			return "", err
		}
		if first != again {
			return "", errors.New("the two passwords are not the same; nothing was changed")
		}
		return first, nil
	}
	if in == nil {
		return "", fmt.Errorf("no password: set $%s or pipe it on standard input", UserPasswordEnv)
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("no password: type it at the terminal, pipe it on standard input or set $%s", UserPasswordEnv)
	}
	return line, nil
}

// isTTY reports whether f is a terminal whose echo can be turned off.
func isTTY(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readNoEcho reads one line from the terminal with echo turned off.
func readNoEcho(f *os.File, prompt io.Writer, ask string) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }()
	fmt.Fprint(prompt, ask)
	var b []byte
	one := make([]byte, 1)
	for {
		n, err := f.Read(one)
		if n == 1 {
			if one[0] == '\n' || one[0] == '\r' {
				break
			}
			b = append(b, one[0])
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", err
		}
	}
	fmt.Fprintln(prompt)
	return string(b), nil
}
