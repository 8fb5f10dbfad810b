package console

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
)

// User is a person who signs in to the console, on behalf of one agency.
type User struct {
	Username string        `json:"username"`
	Name     string        `json:"name"`   // shown on the page and recorded as the actor
	Agency   events.Agency `json:"agency"` // what they see and may do follows it
	Role     string        `json:"role"`   // e.g. "Control-room mental health worker"
	Hash     string        `json:"hash"`   // bcrypt hash of the password
	Disabled bool          `json:"disabled,omitempty"`
	// TrustStaff marks the mental health trust's staff who work in the
	// room of an agency that records no clinical text itself: the
	// control-room mental health worker and the street triage nurse, who
	// sit with police. Their clinical text (the health history of triage
	// advice, the street triage nurse's notes) is recorded under the
	// trust (SPoA); the console refuses it from anyone else of such an
	// agency, whatever their Role says. Absent in a file written before
	// it existed: nobody has it unless given it (`crisisbus users add
	// --trust-staff`, `crisisbus users trust-staff`).
	TrustStaff bool `json:"trustStaff,omitempty"`
}

// UsersFile is the console's people: who may sign in, for which agency, as
// bcrypt hashes. `crisisbus users` writes it; the console reads it again
// when it changes, so a person disabled is signed out at their next click.
type UsersFile struct {
	Users []User `json:"users"`
}

// Bounds of what a users file and a sign-in form may hold.
const (
	MaxUsernameLen = 64
	MaxNameLen     = 100
	MaxRoleLen     = 100
	MinPasswordLen = 12
	MaxPasswordLen = 72 // bcrypt reads no more
)

// CheckUser names what is wrong with a user's details.
func CheckUser(u User) error {
	var errs []error
	if u.Username == "" || len(u.Username) > MaxUsernameLen || strings.IndexFunc(u.Username, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		errs = append(errs, fmt.Errorf("username %q: 1 to %d characters of a-z, 0-9, '.', '-' and '_'", u.Username, MaxUsernameLen))
	}
	if err := line("name", u.Name, MaxNameLen); err != nil {
		errs = append(errs, err)
	}
	if err := line("role", u.Role, MaxRoleLen); err != nil {
		errs = append(errs, err)
	}
	if !u.Agency.Pathway() {
		errs = append(errs, fmt.Errorf("agency %q is not one of %v", u.Agency, events.Agencies))
	}
	if u.TrustStaff && u.Agency.Pathway() && episode.SeesClinical(u.Agency) {
		errs = append(errs, fmt.Errorf("trustStaff is only for the mental health trust's staff working with an agency that records no clinical text itself (%s): a person of the %s records clinical text under their own agency", strings.Join(agenciesWithoutClinical(), ", "), strings.ToLower(u.Agency.Title())))
	}
	if _, err := bcrypt.Cost([]byte(u.Hash)); err != nil {
		errs = append(errs, fmt.Errorf("user %s: the password hash is not a bcrypt hash", u.Username))
	}
	return errors.Join(errs...)
}

// agenciesWithoutClinical are the agencies whose view never shows the
// clinical record, so whose people may be marked as the trust's staff.
func agenciesWithoutClinical() []string {
	var out []string
	for _, a := range events.Agencies {
		if !episode.SeesClinical(a) {
			out = append(out, string(a))
		}
	}
	return out
}

func line(field, s string, limit int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%s is required", field)
	case utf8.RuneCountInString(s) > limit:
		return fmt.Errorf("%s is too long: at most %d characters", field, limit)
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%s must be one line of text", field)
	}
	return nil
}

// CheckPassword names what is wrong with a new password.
func CheckPassword(p string) error {
	switch n := utf8.RuneCountInString(p); {
	case n < MinPasswordLen:
		return fmt.Errorf("the password is %d characters; it needs at least %d", n, MinPasswordLen)
	case len(p) > MaxPasswordLen:
		return fmt.Errorf("the password is %d bytes; at most %d are used, so it must be no longer", len(p), MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the bcrypt hash of a password.
func HashPassword(p string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.DefaultCost)
	return string(h), err
}

// ReadUsersFile reads and checks a users file.
func ReadUsersFile(path string) (UsersFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return UsersFile{}, fmt.Errorf("users file: %w", err)
	}
	return parseUsersFile(path, raw)
}

// parseUsersFile reads and checks the contents of the users file at path.
func parseUsersFile(path string, raw []byte) (UsersFile, error) {
	var f UsersFile
	if err := json.Unmarshal(raw, &f); err != nil {
		if fault, ok := logsafe.JSONFault(err); ok {
			return f, fmt.Errorf("users file %s is damaged: %s; restore it from a backup (the people and their password hashes are only there)", path, fault)
		}
		return f, fmt.Errorf("users file %s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		if err := CheckUser(u); err != nil {
			return f, fmt.Errorf("users file %s, user %d: %w", path, i+1, err)
		}
		if seen[u.Username] {
			return f, fmt.Errorf("users file %s: %s is there twice", path, u.Username)
		}
		seen[u.Username] = true
	}
	return f, nil
}

// WriteUsersFile writes the file whole (readable by its owner only),
// replacing the old one in one step, so the console never reads half of it.
func WriteUsersFile(path string, f UsersFile) error {
	slices.SortFunc(f.Users, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*.json")
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("users file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Find returns the index of the user, or -1.
func (f *UsersFile) Find(username string) int {
	return slices.IndexFunc(f.Users, func(u User) bool { return u.Username == username })
}

// DemoUsers are the people of the embedded default, one per agency, with
// the password "crisisbus-<agency>" (documented in the README). They are for
// trying crisisbus out, never for real use: the console has them only when
// it runs with no users file in the embedded default (`crisisbus up`).
//
// They are the agency table's (events.AgencyInfo.Demo).
func DemoUsers() []DemoUser {
	var out []DemoUser
	for _, a := range events.AgencyTable() {
		for _, p := range a.Demo {
			out = append(out, DemoUser{Username: p.Username, Name: p.Name, Agency: a.ID, Role: p.Role, Password: "crisisbus-" + string(a.ID), TrustStaff: p.TrustStaff})
		}
	}
	return out
}

// DemoUser is a demo person with their plain password.
type DemoUser struct {
	Username, Name string
	Agency         events.Agency
	Role, Password string
	TrustStaff     bool // the trust's staff in another agency's room (User.TrustStaff)
}

// hashDemo hashes the demo users' passwords.
func hashDemo(demo []DemoUser) (map[string]User, error) {
	out := map[string]User{}
	for _, d := range demo {
		h, err := HashPassword(d.Password)
		if err != nil {
			return nil, err
		}
		out[d.Username] = User{Username: d.Username, Name: d.Name, Agency: d.Agency, Role: d.Role, Hash: h, TrustStaff: d.TrustStaff}
	}
	return out, nil
}

// users is who may sign in: the demo people, or a users file read again
// when it changes (checked at most once a second). A change is told by
// what the file holds, not by its time and size: a new password is a
// hash as long as the old one, and may be written within one tick of the
// file system's clock or copied in keeping the file's time.
type users struct {
	path string

	mu      sync.Mutex
	byName  map[string]User
	sum     [sha256.Size]byte // of the file as last read
	checked time.Time
	onError func(error)
}

func newUsers(path string, demo []DemoUser, onError func(error)) (*users, error) {
	u := &users{path: path, onError: onError}
	if path == "" {
		var err error
		u.byName, err = hashDemo(demo)
		return u, err
	}
	if err := u.reload(); err != nil {
		return nil, err
	}
	return u, nil
}

func (u *users) reload() error {
	raw, err := os.ReadFile(u.path)
	if err != nil {
		return fmt.Errorf("users file: %w", err)
	}
	sum := sha256.Sum256(raw)
	if sum == u.sum && u.byName != nil {
		return nil
	}
	f, err := parseUsersFile(u.path, raw)
	if err != nil {
		return err
	}
	m := make(map[string]User, len(f.Users))
	for _, x := range f.Users {
		m[x.Username] = x
	}
	u.byName, u.sum = m, sum
	return nil
}

// get returns the user as the file says now.
func (u *users) get(username string) (User, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.path != "" && time.Since(u.checked) > time.Second {
		u.checked = time.Now()
		// A file that cannot be read keeps the people last read: the
		// console goes on, and says so in its log.
		if err := u.reload(); err != nil && u.onError != nil {
			u.onError(err)
		}
	}
	x, ok := u.byName[username]
	return x, ok
}

// dummyHash keeps a wrong username as slow as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)

func passwordMatches(u User, known bool, password string) bool {
	h := []byte(u.Hash)
	if !known || u.Disabled {
		h = dummyHash
	}
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil && known && !u.Disabled
}
