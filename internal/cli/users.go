package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/console"
)

func init() {
	commands["users"] = command{"the console's people: users add|disable|enable|reset|trust-staff|not-trust-staff|list USERNAME (bcrypt hashes in a users file)", cmdUsers}
}

// defaultUsersFile is where `crisisbus users` writes and `crisisbus up` looks.
func defaultUsersFile(data string) string { return filepath.Join(data, "users.json") }

func cmdUsers(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "users", "add|disable|enable|reset|trust-staff|not-trust-staff|list [USERNAME] [flags]\n\n"+
		"  add USERNAME --name NAME --agency AGENCY --role ROLE [--trust-staff]   a new person; asks for their password\n"+
		"  reset USERNAME     a new password for them (signs them out: their sessions end at their next click)\n"+
		"  disable USERNAME   they can no longer sign in, and are signed out at their next click\n"+
		"  enable USERNAME    they can sign in again\n"+
		"  trust-staff USERNAME       mark them as the mental health trust's staff working in police's room\n"+
		"                             (the control-room mental health worker, the street triage nurse): the\n"+
		"                             console lets them record clinical text, under the trust (signs them out)\n"+
		"  not-trust-staff USERNAME   take the mark away (signs them out)\n"+
		"  list               who is in the file\n\n"+
		"The password is read from the terminal without echo, else from $"+UserPasswordEnv+",\n"+
		"else from the first line of standard input; never from the command line.\n")
	file := fs.String("file", defaultUsersFile("data"), "users file (the console reads it again when it changes)")
	name := fs.String("name", "", "add: the person's name, shown on the page and recorded as the actor")
	agency := fs.String("agency", "", fmt.Sprintf("add: their agency, one of %v", events.Agencies))
	role := fs.String("role", "", "add: their role, for example \"Duty AMHP\"")
	trustStaff := fs.Bool("trust-staff", false, "add: they are the mental health trust's staff working in police's room (the control-room mental health worker, the street triage nurse), who record clinical text under the trust (their role alone never lets anyone)")
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fs.Usage()
		if len(args) == 0 {
			return usageError{"name what to do: add, disable, enable, reset, trust-staff, not-trust-staff or list"}
		}
		return nil
	}
	verb := args[0]
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if verb == "list" {
		f, err := console.ReadUsersFile(*file)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tNAME\tAGENCY\tROLE\tTRUST STAFF\tSTATE")
		for _, u := range f.Users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			trust := "no"
			if u.TrustStaff {
				trust = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Name, u.Agency, u.Role, trust, state)
		}
		return tw.Flush()
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Sprintf("users %s takes one USERNAME", verb)}
	}
	username := fs.Arg(0)
	f, err := console.ReadUsersFile(*file)
	if errors.Is(err, os.ErrNotExist) && verb == "add" {
		f, err = console.UsersFile{}, os.MkdirAll(filepath.Dir(*file), 0o700)
	}
	if err != nil {
		return err
	}
	i := f.Find(username)
	switch verb {
	case "add":
		if i >= 0 {
			return fmt.Errorf("%s is already in %s: use `crisisbus users reset %s` for a new password", username, *file, username)
		}
		u := console.User{Username: username, Name: *name, Agency: events.Agency(*agency), Role: *role, TrustStaff: *trustStaff}
		if err := checkExceptHash(u); err != nil {
			return usageError{err.Error()}
		}
		pw, err := newPassword(e)
		if err != nil {
			return err
		}
		if u.Hash, err = console.HashPassword(pw); err != nil {
			return err
		}
		f.Users = append(f.Users, u)
	case "reset", "disable", "enable", "trust-staff", "not-trust-staff":
		if i < 0 {
			return fmt.Errorf("there is no %s in %s", username, *file)
		}
		switch verb {
		case "reset":
			pw, err := newPassword(e)
			if err != nil {
				return err
			}
			if f.Users[i].Hash, err = console.HashPassword(pw); err != nil {
				return err
			}
		case "disable":
			f.Users[i].Disabled = true
		case "enable":
			f.Users[i].Disabled = false
		case "trust-staff", "not-trust-staff":
			if f.Users[i].TrustStaff == (verb == "trust-staff") {
				fmt.Fprintf(e.stdout, "nothing to change: %s is %s (%s)\n", username, map[bool]string{true: "already marked as the trust's staff", false: "not marked as the trust's staff"}[f.Users[i].TrustStaff], *file)
				return nil
			}
			f.Users[i].TrustStaff = verb == "trust-staff"
			if err := console.CheckUser(f.Users[i]); err != nil {
				return fmt.Errorf("%w; nothing was changed", err)
			}
		}
	default:
		return usageError{fmt.Sprintf("unknown users command %q: add, disable, enable, reset, trust-staff, not-trust-staff or list", verb)}
	}
	if err := console.WriteUsersFile(*file, f); err != nil {
		return err
	}
	done := verbDone[verb]
	if verb == "add" && *trustStaff {
		done = "added, marked as the trust's staff"
	}
	fmt.Fprintf(e.stdout, "%s: %s (%s)\n", done, username, *file)
	return nil
}

var verbDone = map[string]string{"add": "added", "reset": "new password set; signed out", "disable": "disabled; signed out", "enable": "enabled",
	"trust-staff": "marked as the trust's staff; signed out", "not-trust-staff": "no longer marked as the trust's staff; signed out"}

// checkExceptHash checks a new person's details before asking for a password.
func checkExceptHash(u console.User) error {
	h, err := console.HashPassword("placeholder only")
	if err != nil {
		return err
	}
	u.Hash = h
	return console.CheckUser(u)
}

func newPassword(e env) (string, error) {
	pw, err := readSecret(e.stdin, e.stderr)
	if err != nil {
		return "", err
	}
	if err := console.CheckPassword(pw); err != nil {
		return "", fmt.Errorf("%w; nothing was changed", err)
	}
	return pw, nil
}

// consoleFlags are the console's people, cookies and timeouts, for up and serve.
type consoleFlags struct{ cfg console.Config }

func (c *consoleFlags) register(fs *flag.FlagSet, usersDefault string) {
	fs.StringVar(&c.cfg.UsersFile, "users", "", "the console's users file, made with `crisisbus users add` ("+usersDefault+")")
	fs.BoolVar(&c.cfg.SecureCookies, "secure-cookies", false, "mark the console's cookies Secure: set it when the console is served over TLS or behind a TLS proxy")
	fs.BoolVar(&c.cfg.BehindProxy, "behind-proxy", false, "the console is behind a proxy: take the client's address from X-Forwarded-For (sign-in throttling counts by address)")
	fs.DurationVar(&c.cfg.IdleTimeout, "idle-timeout", console.DefaultIdleTimeout, "sign a console user out after this long without doing anything (a session ends after 12 h whatever they do)")
}
