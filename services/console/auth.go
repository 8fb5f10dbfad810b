package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/fifo"
)

// session is what the console remembers of a signed-in person, kept in a
// NATS key-value bucket so the console itself holds no state.
type session struct {
	Username string        `json:"username"`
	Name     string        `json:"name"`
	Agency   events.Agency `json:"agency"`
	Role     string        `json:"role"`
	// TrustStaff is the person's User.TrustStaff when they signed in: the
	// trust's staff in another agency's room, who record its clinical
	// text. A change in the users file ends the session, as a change of
	// agency does.
	TrustStaff bool      `json:"trustStaff,omitempty"`
	CSRF       string    `json:"csrf"`
	Created    time.Time `json:"created"`
	// Key tells which password the session was opened with: a new
	// password (crisisbus users reset) ends the sessions of the old one.
	Key string `json:"key"`
	// LastSeen is the last time the person did something (a page they
	// opened, a form they sent; not a live refresh): the idle timeout
	// counts from it.
	LastSeen time.Time `json:"lastSeen"`
	// Flash is the confirmation shown once on the next page (the green box
	// after a form is stored): kept here, never taken from the address.
	Flash string `json:"flash,omitempty"`
	// Reasons are the episodes the person's agency has no part in that
	// they gave a reason to open, episode → reason, at most maxReasons.
	Reasons map[string]string `json:"reasons,omitempty"`
}

const (
	sessionCookie = "crisisbus_session"
	sessionBucket = rights.SessionsBucket
	// sessionTTL is the absolute limit of a session: one long shift.
	sessionTTL = rights.SessionTTL
	// DefaultIdleTimeout signs a person out after this long without doing anything.
	DefaultIdleTimeout = 30 * time.Minute
	// touchEvery bounds the writes that keep LastSeen current.
	touchEvery = time.Minute
	// maxReasons bounds the reasons a session keeps.
	maxReasons = 50
)

// A token is 32 random bytes, base64url without padding: 43 characters.
const tokenLen = 43

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validToken reports whether s is a token the console could have issued,
// so that nothing else is ever used as a key of the bucket.
func validToken(s string) bool {
	if len(s) != tokenLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

type sessions struct {
	kv jetstream.KeyValue
	// ended holds the sessions this console ended lately (signed out,
	// timed out), so an open page's stream stops at once, without reading
	// the bucket (see liveStream).
	ended *fifo.Map[string, struct{}]
}

// maxEndedHere bounds the sessions a console remembers ending.
const maxEndedHere = 4096

func openSessions(ctx context.Context, js jetstream.JetStream) (*sessions, error) {
	kv, err := rights.OpenBucket(ctx, js, sessionBucket)
	if err != nil {
		return nil, fmt.Errorf("console sessions: %w", err)
	}
	return &sessions{kv: kv, ended: fifo.New[string, struct{}](maxEndedHere)}, nil
}

func (s *sessions) create(ctx context.Context, u User, now time.Time) (string, error) {
	id := randomToken()
	b, _ := json.Marshal(session{Username: u.Username, Name: u.Name, Agency: u.Agency, Role: u.Role, TrustStaff: u.TrustStaff, CSRF: randomToken(),
		Created: now.UTC(), LastSeen: now.UTC(), Key: passwordKey(u)})
	if _, err := s.kv.Create(ctx, id, b); err != nil {
		return "", fmt.Errorf("store session: %w", err)
	}
	return id, nil
}

var errNoSession = errors.New("not signed in")

func (s *sessions) get(ctx context.Context, id string) (session, uint64, error) {
	var out session
	if !validToken(id) {
		return out, 0, errNoSession
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return out, 0, errNoSession
	}
	if err != nil {
		return out, 0, fmt.Errorf("read session: %w", err)
	}
	err = json.Unmarshal(e.Value(), &out)
	return out, e.Revision(), err
}

// update changes a session, reading it again when another request changed
// it in between; it returns the session as stored.
func (s *sessions) update(ctx context.Context, id string, change func(*session)) (session, error) {
	for attempt := 0; ; attempt++ {
		cur, rev, err := s.get(ctx, id)
		if err != nil {
			return cur, err
		}
		change(&cur)
		b, _ := json.Marshal(cur)
		if _, err = s.kv.Update(ctx, id, b, rev); err == nil {
			return cur, nil
		}
		if attempt == 4 {
			return cur, fmt.Errorf("update session: %w", err)
		}
	}
}

func (s *sessions) delete(ctx context.Context, id string) {
	s.ended.Put(id, struct{}{})
	_ = s.kv.Delete(ctx, id)
}

// endedHere reports whether this console ended session id.
func (s *sessions) endedHere(id string) bool { _, ok := s.ended.Get(id); return ok }

type ctxKey struct{}

// signedIn is the session of a request, and its id.
type signedIn struct {
	id string
	s  session
}

func sessionFrom(ctx context.Context) (session, bool) {
	s, ok := ctx.Value(ctxKey{}).(signedIn)
	return s.s, ok
}

func sessionIDFrom(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(signedIn)
	return s.id
}

// isLive reports whether a request is the page refreshing itself rather
// than the person doing something.
func isLive(r *http.Request) bool {
	return r.Header.Get("X-Requested-With") == "live" || r.URL.Path == "/live"
}

// requireSession sends people who are not signed in to the sign-in page,
// ends sessions past their idle or absolute limit or of a person since
// disabled, and checks the CSRF token on every form post.
func (c *Server) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, _ := r.Cookie(sessionCookie)
		var id string
		if ck != nil {
			id = ck.Value
		}
		if len(id) > maxCookieLen {
			// Never looked up: clear it, and say so.
			c.setSessionCookie(w, r, "", -1)
			c.log.Info("refused an over-long session cookie", zap.Int("length", len(id)))
			badRequest(w, fmt.Sprintf("The session cookie sent is %d characters long; the console's are %d. It was not used and has been cleared: sign in again.", len(id), tokenLen))
			return
		}
		toSignin := func(why string) {
			to := "/signin?next=" + url.QueryEscape(r.URL.RequestURI())
			if why != "" {
				to += "&why=" + why
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
		}
		s, _, err := c.sessions.get(r.Context(), id)
		if err != nil {
			if !errors.Is(err, errNoSession) && !gone(r, err) {
				c.log.Error("session lookup", zap.Error(err))
			}
			if ck != nil {
				c.setSessionCookie(w, r, "", -1)
			}
			toSignin("")
			return
		}
		now := c.cfg.Now()
		if reason, why := c.ended(s, now); reason != "" {
			c.endSession(w, r, id, s, reason)
			toSignin(why)
			return
		}
		if r.Method == http.MethodPost {
			if err := parseForm(w, r); err != nil {
				badRequest(w, err.Error())
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.CSRF)) != 1 {
				http.Error(w, "This form has expired or did not come from the console. Go back, reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		if !isLive(r) && now.Sub(s.LastSeen) > touchEvery {
			if t, err := c.sessions.update(r.Context(), id, func(x *session) { x.LastSeen = now.UTC() }); err == nil {
				s = t
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, signedIn{id: id, s: s})))
	})
}

// ended says why a session may no longer be used ("" while it may), and
// what the sign-in page is told of it (why=): past its absolute limit, idle
// too long, or its person disabled, removed, moved to another agency,
// given or stripped of the trust's staff mark, or given a new password.
func (c *Server) ended(s session, now time.Time) (reason, why string) {
	u, known := c.users.get(s.Username)
	switch {
	case now.Sub(s.Created) > sessionTTL:
		return "session past its absolute limit", "expired"
	case now.Sub(s.LastSeen) > c.cfg.IdleTimeout:
		return "session idle too long", "idle"
	case !known || u.Disabled || u.Agency != s.Agency || passwordKey(u) != s.Key:
		return "user disabled or removed", ""
	case u.TrustStaff != s.TrustStaff:
		return "user's trust staff mark changed", ""
	}
	return "", ""
}

// stillSignedIn reports whether the session id may still be used: it is
// read again (a sign-out deletes it) and checked as requireSession does.
// A session that cannot be read counts as ended.
func (c *Server) stillSignedIn(ctx context.Context, id string) bool {
	s, _, err := c.sessions.get(ctx, id)
	if err != nil {
		return false
	}
	reason, _ := c.ended(s, c.cfg.Now())
	return reason == ""
}

// passwordKey names a user's password without revealing it.
func passwordKey(u User) string {
	sum := sha256.Sum256([]byte(u.Hash))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

func (c *Server) endSession(w http.ResponseWriter, r *http.Request, id string, s session, why string) {
	c.sessions.delete(r.Context(), id)
	c.setSessionCookie(w, r, "", -1)
	c.log.Info("signed out", zap.String("user", s.Username), zap.String("reason", why))
}

func (c *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, id string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.secure(r), MaxAge: maxAge,
	})
}

// secure reports whether cookies get the Secure flag: when configured (the
// console is behind a TLS proxy) or when the request itself came over TLS.
func (c *Server) secure(r *http.Request) bool { return c.cfg.SecureCookies || r.TLS != nil }

// setFlash keeps the confirmation for the next page of this session.
func (c *Server) setFlash(ctx context.Context, done string) error {
	_, err := c.sessions.update(ctx, sessionIDFrom(ctx), func(s *session) { s.Flash = done })
	return err
}

// takeFlash returns the session's confirmation and clears it, so it is
// shown once. A live refresh never takes it.
func (c *Server) takeFlash(r *http.Request) string {
	s, ok := sessionFrom(r.Context())
	if !ok || s.Flash == "" || isLive(r) {
		return ""
	}
	if _, err := c.sessions.update(r.Context(), sessionIDFrom(r.Context()), func(s *session) { s.Flash = "" }); err != nil {
		c.log.Warn("clear the confirmation", zap.Error(err))
	}
	return s.Flash
}
