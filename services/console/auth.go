package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
)

// User is a person who signs in to the console, on behalf of one agency.
type User struct {
	Username string        `json:"username"`
	Name     string        `json:"name"`   // shown on the page and recorded as the actor
	Agency   events.Agency `json:"agency"` // what they see and may do follows it
	Role     string        `json:"role"`   // e.g. "Control-room mental health worker"
	Hash     []byte        `json:"-"`      // bcrypt hash of the password
}

// DemoUsers are the people of the embedded default, one per agency, with
// the password "crisisbus-<agency>" (documented in the README). They are for
// trying crisisbus out, never for real use.
func DemoUsers() []DemoUser {
	return []DemoUser{
		{"police.handler", "Chris Morgan", events.Police, "Control-room call handler", "crisisbus-police"},
		{"police.mhw", "Alex Reid", events.Police, "Control-room mental health worker", "crisisbus-police"},
		{"eoc.mhw", "Priya Shah", events.Ambulance, "EOC mental health worker", "crisisbus-ambulance"},
		{"spoa.clinician", "Morgan Lee", events.SPoA, "SPoA clinician", "crisisbus-spoa"},
		{"amhp.duty", "Jordan Taylor", events.AMHP, "Duty AMHP", "crisisbus-amhp"},
		{"helpline.worker", "Sam Okafor", events.Crisisline, "Follow-up helpline worker", "crisisbus-crisisline"},
	}
}

// DemoUser is a demo person with their plain password.
type DemoUser struct {
	Username, Name string
	Agency         events.Agency
	Role, Password string
}

// hashUsers hashes demo users' passwords.
func hashUsers(demo []DemoUser) (map[string]User, error) {
	out := map[string]User{}
	for _, d := range demo {
		h, err := bcrypt.GenerateFromPassword([]byte(d.Password), bcrypt.DefaultCost)
		if err != nil {
			return nil, err
		}
		out[d.Username] = User{Username: d.Username, Name: d.Name, Agency: d.Agency, Role: d.Role, Hash: h}
	}
	return out, nil
}

// session is what the console remembers of a signed-in person, kept in a
// NATS key-value bucket so the console itself holds no state.
type session struct {
	Username string        `json:"username"`
	Name     string        `json:"name"`
	Agency   events.Agency `json:"agency"`
	Role     string        `json:"role"`
	CSRF     string        `json:"csrf"`
	Created  time.Time     `json:"created"`
}

const (
	sessionCookie = "crisisbus_session"
	sessionBucket = rights.SessionsBucket
	sessionTTL    = rights.SessionTTL // one long shift
)

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type sessions struct{ kv jetstream.KeyValue }

func openSessions(ctx context.Context, js jetstream.JetStream) (*sessions, error) {
	kv, err := rights.OpenBucket(ctx, js, sessionBucket)
	if err != nil {
		return nil, fmt.Errorf("console sessions: %w", err)
	}
	return &sessions{kv: kv}, nil
}

func (s *sessions) create(ctx context.Context, u User) (string, error) {
	id := randomToken()
	b, _ := json.Marshal(session{Username: u.Username, Name: u.Name, Agency: u.Agency, Role: u.Role, CSRF: randomToken(), Created: time.Now().UTC()})
	if _, err := s.kv.Create(ctx, id, b); err != nil {
		return "", fmt.Errorf("store session: %w", err)
	}
	return id, nil
}

var errNoSession = errors.New("not signed in")

func (s *sessions) get(ctx context.Context, id string) (session, error) {
	var out session
	if id == "" || strings.ContainsAny(id, ".*> ") {
		return out, errNoSession
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return out, errNoSession
	}
	if err != nil {
		return out, fmt.Errorf("read session: %w", err)
	}
	err = json.Unmarshal(e.Value(), &out)
	return out, err
}

func (s *sessions) delete(ctx context.Context, id string) { _ = s.kv.Delete(ctx, id) }

type ctxKey struct{}

func sessionFrom(ctx context.Context) (session, bool) {
	s, ok := ctx.Value(ctxKey{}).(session)
	return s, ok
}

// requireSession sends people who are not signed in to the sign-in page, and
// checks the CSRF token on every form post.
func (c *Server) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, _ := r.Cookie(sessionCookie)
		var id string
		if ck != nil {
			id = ck.Value
		}
		s, err := c.sessions.get(r.Context(), id)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				c.log.Error("session lookup")
			}
			http.Redirect(w, r, "/signin?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				http.Error(w, "The form could not be read.", http.StatusBadRequest)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
				http.Error(w, "This form has expired or did not come from the console. Go back, reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
	})
}

func (c *Server) setSessionCookie(w http.ResponseWriter, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.cfg.SecureCookies, MaxAge: maxAge,
	})
}

// dummyHash keeps a wrong username as slow as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)

func passwordMatches(u User, known bool, password string) bool {
	h := u.Hash
	if !known {
		h = dummyHash
	}
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil && known
}
