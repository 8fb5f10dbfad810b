package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/console"
)

func runIn(stdin string, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

// The console's people are added, reset and disabled with `crisisbus
// users`; a password is read from the terminal, stdin or the environment,
// never from the command line, and only its bcrypt hash is kept.
func TestUsersAddResetAndDisableKeepOnlyHashes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "people", "users.json")
	add := []string{"users", "add", "j.okoye", "--file", file, "--name", "Jade Okoye", "--agency", "amhp", "--role", "Duty AMHP"}
	if code, out, errOut := runIn("correct horse battery\n", add...); code != 0 || !strings.Contains(out, "added: j.okoye") {
		t.Fatalf("users add: exit %d: %s%s", code, out, errOut)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "correct horse battery") {
		t.Fatal("the users file holds the password itself")
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("the users file is mode %v, want 0600", st.Mode().Perm())
	}
	f, err := console.ReadUsersFile(file)
	if err != nil {
		t.Fatal(err)
	}
	u := f.Users[0]
	if u.Name != "Jade Okoye" || u.Agency != "amhp" || u.Role != "Duty AMHP" || bcrypt.CompareHashAndPassword([]byte(u.Hash), []byte("correct horse battery")) != nil {
		t.Fatalf("the user stored is %+v", u)
	}

	// Refused, naming why, and nothing changed.
	if code, _, errOut := runIn("correct horse battery\n", add...); code == 0 || !strings.Contains(errOut, "already in") {
		t.Fatalf("adding j.okoye twice: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runIn("short\n", "users", "add", "a.n.other", "--file", file, "--name", "A N Other", "--agency", "spoa", "--role", "Clinician"); code == 0 || !strings.Contains(errOut, "needs at least 12") {
		t.Fatalf("a short password: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runIn("", "users", "add", "x.y", "--file", file, "--name", "X Y", "--agency", "fire", "--role", "R"); code != 2 || !strings.Contains(errOut, `agency "fire" is not one of`) {
		t.Fatalf("an unknown agency: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runIn("", "users", "reset", "j.okoye", "--file", file, "--password", "on the command line"); code != 2 || !strings.Contains(errOut, "flag provided but not defined: -password") {
		t.Fatalf("a password on the command line: exit %d: %s", code, errOut)
	}

	// A new password from the environment.
	t.Setenv(UserPasswordEnv, "a new password for jade")
	if code, out, errOut := runIn("", "users", "reset", "j.okoye", "--file", file); code != 0 || !strings.Contains(out, "new password set") {
		t.Fatalf("users reset: exit %d: %s%s", code, out, errOut)
	}
	f, _ = console.ReadUsersFile(file)
	if bcrypt.CompareHashAndPassword([]byte(f.Users[0].Hash), []byte("a new password for jade")) != nil {
		t.Fatal("reset did not store the new password's hash")
	}
	if code, _, errOut := runIn("", "users", "disable", "j.okoye", "--file", file); code != 0 {
		t.Fatalf("users disable: exit %d: %s", code, errOut)
	}
	code, out, _ := runIn("", "users", "list", "--file", file)
	if code != 0 || !strings.Contains(out, "j.okoye") || !strings.Contains(out, "disabled") {
		t.Fatalf("users list: exit %d:\n%s", code, out)
	}
}

// A NATS password comes from a file or the environment; --password still
// works, with a warning that it shows in ps.
func TestNATSPasswordFromAFileOrTheEnvironment(t *testing.T) {
	b := bustest.Start(t, "")
	creds, err := broker.LoadCredentials(b.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "police.password")
	if err := os.WriteFile(pwFile, []byte(creds["police"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	example := "../../schemas/testdata/valid/s136.detained.json"
	if code, out, errOut := runIn("", "publish", "--nats", b.URL(), "--user", "police", "--password-file", pwFile, example); code != 0 || !strings.Contains(out, "1 published") {
		t.Fatalf("--password-file: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runIn("", "publish", "--nats", b.URL(), "--user", "police", "--password", creds["police"], example); code != 0 || !strings.Contains(errOut, "warning: --password shows the password") {
		t.Fatalf("--password: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := runIn("", "publish", "--nats", b.URL(), "--user", "police", example); code != 2 || !strings.Contains(errOut, "needs its password") {
		t.Fatalf("no password: exit %d: %s", code, errOut)
	}
	t.Setenv(PasswordEnv, creds["police"])
	if code, out, errOut := runIn("", "publish", "--nats", b.URL(), "--user", "police", example); code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("$%s: exit %d: %s%s", PasswordEnv, code, out, errOut)
	}
}

// The trust's staff in the police control room are marked so in the users
// file, and only by saying so: `users add --trust-staff` marks the
// control-room mental health worker, `users list` shows who is, the call
// handler added without it is not, and the mark can be given and taken
// away later. A file written before the mark existed still loads, with
// nobody marked; the mark is refused for a health agency's person, who
// records clinical text as their own agency.
func TestUsersAddTrustStaffMarksTheControlRoomMentalHealthWorkerAndListShowsIt(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users.json")
	add := func(username, name, agency, role string, more ...string) (int, string, string) {
		return runIn("correct horse battery\n", append([]string{"users", "add", username, "--file", file, "--name", name, "--agency", agency, "--role", role}, more...)...)
	}
	if code, out, errOut := add("a.reid", "Alex Reid", "police", "Control-room mental health worker", "--trust-staff"); code != 0 || !strings.Contains(out, "added, marked as the trust's staff: a.reid") {
		t.Fatalf("users add --trust-staff: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := add("c.morgan", "Chris Morgan", "police", "Control-room call handler"); code != 0 || !strings.Contains(out, "added: c.morgan") {
		t.Fatalf("users add: exit %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := add("p.shah", "Priya Shah", "ambulance", "EOC mental health worker", "--trust-staff"); code != 2 || !strings.Contains(errOut, "trustStaff is only for the mental health trust's staff working with an agency that records no clinical text itself") {
		t.Fatalf("the mark on a health agency's person: exit %d: %s", code, errOut)
	}

	code, out, _ := runIn("", "users", "list", "--file", file)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.Contains(lines[0], "TRUST STAFF") {
		t.Fatalf("users list: exit %d:\n%s", code, out)
	}
	if f := strings.Fields(lines[1]); f[0] != "a.reid" || f[len(f)-2] != "yes" || f[len(f)-1] != "active" {
		t.Errorf("users list shows the mental health worker as %q, want trust staff yes", lines[1])
	}
	if f := strings.Fields(lines[2]); f[0] != "c.morgan" || f[len(f)-2] != "no" {
		t.Errorf("users list shows the call handler as %q, want trust staff no", lines[2])
	}
	raw, _ := os.ReadFile(file)
	if strings.Count(string(raw), `"trustStaff": true`) != 1 {
		t.Errorf("the users file marks %d people, want 1:\n%s", strings.Count(string(raw), `"trustStaff"`), raw)
	}

	// Given and taken away later.
	if code, out, errOut := runIn("", "users", "trust-staff", "c.morgan", "--file", file); code != 0 || !strings.Contains(out, "marked as the trust's staff; signed out: c.morgan") {
		t.Fatalf("users trust-staff: exit %d: %s%s", code, out, errOut)
	}
	if code, out, errOut := runIn("", "users", "not-trust-staff", "c.morgan", "--file", file); code != 0 || !strings.Contains(out, "no longer marked as the trust's staff; signed out: c.morgan") {
		t.Fatalf("users not-trust-staff: exit %d: %s%s", code, out, errOut)
	}
	if f, err := console.ReadUsersFile(file); err != nil || f.Users[0].TrustStaff != true || f.Users[1].TrustStaff != false {
		t.Fatalf("after giving and taking away the mark: %+v, %v", f.Users, err)
	}

	// A users file of an earlier crisisbus, with no mark at all.
	old := filepath.Join(dir, "old.json")
	h, _ := console.HashPassword("correct horse battery")
	if err := os.WriteFile(old, []byte(`{"users": [{"username": "a.reid", "name": "Alex Reid", "agency": "police", "role": "Control-room mental health worker", "hash": "`+h+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := console.ReadUsersFile(old)
	if err != nil || len(f.Users) != 1 || f.Users[0].TrustStaff {
		t.Fatalf("an earlier users file: %+v, %v; want it read, nobody marked", f.Users, err)
	}
	if code, out, _ := runIn("", "users", "list", "--file", old); code != 0 || !strings.Contains(out, "Control-room mental health worker  no ") {
		t.Fatalf("users list of an earlier file: exit %d:\n%s", code, out)
	}
}

// A users file or a credentials file that is damaged (cut short, or of the
// wrong shape) is named with what is wrong in words and what to do, never
// with Go's names for its types.
func TestADamagedUsersOrCredentialsFileIsNamedInWords(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, content string
		args                []string
		want                []string
	}{
		{"users cut short", "users.json", `{"users": [{"username": "a`, []string{"users", "list", "--file"},
			[]string{"users file", "is damaged", "cut short", "byte", "backup"}},
		{"users of the wrong shape", "users.json", `[]`, []string{"users", "list", "--file"},
			[]string{"users file", "is damaged", "wrong shape", "an array, where an object belongs", "backup"}},
		{"credentials cut short", "credentials.json", `{"admin": `, []string{"status", "--data"},
			[]string{"credentials file", "is damaged", "cut short", "backup"}},
		{"credentials of the wrong shape", "credentials.json", `{"admin": 7}`, []string{"status", "--data"},
			[]string{"credentials file", "is damaged", "wrong shape", "a number, where a string belongs", "backup"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			os.MkdirAll(d, 0o700)
			path := filepath.Join(d, tc.file)
			os.WriteFile(path, []byte(tc.content), 0o600)
			arg := path
			if tc.file == "credentials.json" {
				arg = d
			}
			code, _, stderr := run(append(tc.args, arg)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q: %s", w, stderr)
				}
			}
			for _, bad := range []string{"Go value", "Go struct", "console.", "broker.", "json:"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr says %q, Go's words: %s", bad, stderr)
				}
			}
		})
	}
}

// An agency's own systems publish its facts as the agency's integration
// user, which may publish them and call its commands but answers none of
// its service's requests and reads none of its deliveries: the police
// control room's dispatch system records a detention.
func TestAnAgencysOwnSystemsPublishItsFactsAsItsIntegrationUser(t *testing.T) {
	b := bustest.Start(t, "")
	pw := filepath.Join(t.TempDir(), "police-integration.password")
	if err := os.WriteFile(pw, []byte(b.Credentials()["police-integration"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	example := "../../schemas/testdata/valid/s136.detained.json"
	if code, out, errOut := runIn("", "publish", "--nats", b.URL(), "--user", "police-integration", "--password-file", pw, example); code != 0 || !strings.Contains(out, "1 published") {
		t.Fatalf("publish as police-integration: exit %d: %s%s", code, out, errOut)
	}

	// Without --user, publish is one of the agency's own systems too: it
	// needs no password of the police service's.
	creds := maps.Clone(b.Credentials())
	delete(creds, "police")
	raw, err := json.Marshal(creds)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broker.CredentialsFile(b.DataDir()), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runIn("", "publish", "--data", b.DataDir(), "--nats", b.URL(), "../../schemas/testdata/valid/episode.opened.json"); code != 0 || !strings.Contains(out, "1 published") {
		t.Fatalf("publish with the data directory's credentials, the police service's password not among them: exit %d: %s%s", code, out, errOut)
	}
}
