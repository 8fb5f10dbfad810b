// Package console is the web page the pathway's people use: the control-room
// mental health worker raising a triage request mid-call, the AMHP choosing
// which s136 assessment to take, the helpline worker calling someone
// discharged yesterday. Pages are rendered on the server from html/template;
// a small script adds live updates over Server-Sent Events and counts clocks
// down, and everything works without it. The console keeps no state of its
// own: sessions live in a NATS key-value bucket, and every read and action
// goes through the episode record and the agencies' services over NATS.
package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/ops"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/reports"
)

//go:embed web
var webFS embed.FS

// Config configures the console.
type Config struct {
	Addr string // listen address, default 127.0.0.1:8080
	// UsersFile is who may sign in (see UsersFile; `crisisbus users`).
	// Without one the console has the demo people (Demo), and lists them on
	// the sign-in page: the embedded default only.
	UsersFile string
	Demo      []DemoUser // default DemoUsers(), when there is no users file
	// SecureCookies sets the Secure flag on cookies: for a console served
	// behind a TLS proxy (a request over TLS to the console gets it anyway).
	SecureCookies bool
	// BehindProxy takes the client's address from the proxy's
	// X-Forwarded-For (sign-in throttling counts by address).
	BehindProxy bool
	// IdleTimeout signs a person out after this long without doing
	// anything (default DefaultIdleTimeout); a session ends after
	// rights.SessionTTL whatever they do.
	IdleTimeout time.Duration
	Log         *zap.Logger //
	Now         func() time.Time
	// StoreAlert, if set, says what to tell everyone while the bus's store
	// is full ("" while it is not); every page shows it as a banner.
	StoreAlert func() string

	livePing time.Duration // livePing; shorter in tests
	// ops.ReadTimeout and ops.IdleTimeout; shorter in tests
	readTimeout, idleTimeout time.Duration
	// checks and checkWait bound the passwords checked at once and a
	// sign-in's wait for its turn (defaultChecks, defaultCheckWait);
	// checking, if set, is called as each check starts (tests hold
	// checks there).
	checks    int
	checkWait time.Duration
	checking  func()
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.UsersFile == "" && c.Demo == nil {
		c.Demo = DemoUsers()
	}
	if c.UsersFile != "" {
		c.Demo = nil
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.livePing <= 0 {
		c.livePing = livePing
	}
	if c.checks <= 0 {
		c.checks = defaultChecks()
	}
	if c.checkWait <= 0 {
		c.checkWait = defaultCheckWait
	}
	if c.readTimeout <= 0 {
		c.readTimeout = ops.ReadTimeout
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = ops.IdleTimeout
	}
}

// Server is a running console.
type Server struct {
	cfg      Config
	log      *zap.Logger
	nc       *nats.Conn
	users    *users
	throttle *throttle
	checks   *checkSlots // the passwords being checked now
	parties  *parties    // which agencies have a part in which episodes, for live updates
	sessions *sessions
	pages    map[string]*template.Template
	live     *hub
	http     *http.Server
	ln       net.Listener
	// stopFollowing ends the reading of the stream for live updates.
	stopFollowing context.CancelFunc
	reports       *reports.Service // the report tables, following the stream
	patterns      []string         // of the routes, for the tests
	wg            sync.WaitGroup
}

// Start listens on cfg.Addr and serves until Stop.
func Start(ctx context.Context, nc *nats.Conn, cfg Config) (*Server, error) {
	cfg.setDefaults()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return nil, err
	}
	c := &Server{cfg: cfg, log: cfg.Log, nc: nc, live: newHub(), throttle: newThrottle(), parties: newParties(),
		checks: newCheckSlots(cfg.checks, cfg.checkWait)}
	if c.users, err = newUsers(cfg.UsersFile, cfg.Demo, func(err error) {
		cfg.Log.Error("users file unreadable: keeping the people last read", zap.Error(err))
	}); err != nil {
		return nil, err
	}
	// It holds every person's password hash, as the store key's file holds the key.
	if fi, err := os.Stat(cfg.UsersFile); cfg.UsersFile != "" && err == nil && fi.Mode().Perm()&0o077 != 0 {
		cfg.Log.Warn("users file is readable by others than its owner: chmod 600 it", zap.String("users_file", cfg.UsersFile), zap.Stringer("mode", fi.Mode().Perm()))
	}
	if c.sessions, err = openSessions(ctx, js); err != nil {
		return nil, err
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	// The report tables are a projection of the stream, kept up to date here
	// (the console's user may read the stream, not publish to it).
	bus, err := natsbus.NewBus(nc, "", cfg.Log)
	if err != nil {
		return nil, err
	}
	c.reports = reports.Start(ctx, bus, cfg.Log.Named("reports"))
	// Every stored event is a reason for open pages to refresh their live
	// regions, except a disclosure: reading a page records one, which must
	// not make every open page read the record again, and again. Only
	// stored events: a publish the stream refused (one that lost a race on
	// the episode, sent again as another event) is never announced, so a
	// page never waits for an event no record will hold.
	stream, err := js.Stream(ctx, natsbus.Stream)
	if err != nil {
		c.reports.Stop()
		return nil, fmt.Errorf("live updates: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		c.reports.Stop()
		return nil, fmt.Errorf("live updates: %w", err)
	}
	followCtx, stopFollowing := context.WithCancel(context.WithoutCancel(ctx))
	c.stopFollowing = stopFollowing
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.follow(followCtx, bus, info.State.LastSeq+1)
	}()
	c.ln, err = net.Listen("tcp", cfg.Addr)
	if err == nil && cfg.Demo != nil && !loopback(c.ln.Addr()) {
		// The demo people's passwords are published: anyone who reached
		// such a console would sign in as any agency.
		c.ln.Close()
		err = fmt.Errorf("its demo people (there is no users file) are for trying crisisbus on this machine only, and their passwords are published: "+
			"listen on 127.0.0.1 (--http 127.0.0.1:8080), or give a users file made with `crisisbus users add` (--users FILE) to serve the console on %s", cfg.Addr)
	}
	if err != nil {
		c.stopFollowing()
		c.wg.Wait()
		c.reports.Stop()
		return nil, fmt.Errorf("console: listen on %s: %w", cfg.Addr, err)
	}
	// A whole request, body included, has readTimeout; a kept-alive
	// connection is closed after idleTimeout without one. No bound on a
	// whole response: /live is one, and bounds each of its writes.
	c.http = &http.Server{Handler: ops.Console(c.routes()), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: maxHeaderBytes,
		ReadTimeout: cfg.readTimeout, IdleTimeout: cfg.idleTimeout}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := c.http.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("console stopped", zap.Error(err))
		}
	}()
	c.log.Info("console listening", zap.String("url", c.URL()))
	return c, nil
}

// follow reads the stream from seq on, for as long as ctx lasts, and
// tells open pages of each stored event; after an error it carries on
// from the event after the last it read.
func (c *Server) follow(ctx context.Context, bus *natsbus.Bus, seq uint64) {
	disclosed := events.TypePrefix + "record.disclosed.v1"
	for ctx.Err() == nil {
		err := bus.ReplayRaw(ctx, natsbus.ReplayConfig{Follow: true, From: seq}, func(st natsbus.Stored) error {
			seq = st.Seq + 1
			var e events.Event
			if json.Unmarshal(st.Raw, &e) != nil || e.Type == disclosed {
				return nil
			}
			c.parties.learn(e)
			c.live.publish(liveEvent{Episode: e.Subject, Type: e.Type, ID: e.ID})
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("live updates: reading the stream stopped; starting again", zap.Uint64("from", seq), zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// loopback reports whether a listener's address is reachable from this
// machine only.
func loopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// URL is where the console is served.
func (c *Server) URL() string { return "http://" + c.ln.Addr().String() }

// Stop closes live streams and the listener.
func (c *Server) Stop() {
	c.live.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.http.Shutdown(ctx)
	c.stopFollowing()
	c.reports.Stop()
	c.wg.Wait()
}

func (c *Server) routes() http.Handler {
	mux := routeMux{http.NewServeMux(), &c.patterns}
	mux.Handle("GET /static/", staticFiles())
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /signin", c.signinPage)
	mux.HandleFunc("POST /signin", c.signin)
	authed := routeMux{http.NewServeMux(), &c.patterns}
	authed.HandleFunc("POST /signout", c.signout)
	authed.HandleFunc("GET /live", c.liveStream)
	authed.HandleFunc("GET /{$}", c.home)
	authed.HandleFunc("GET /reports", c.reportsPage)
	authed.HandleFunc("GET /handed-on", c.handedOnPage)
	authed.HandleFunc("GET /find", c.findPage)
	authed.HandleFunc("POST /find", c.find)
	c.agencyRoutes(authed)
	mux.ServeMux.Handle("/", c.requireSession(c.marked(authed)))
	return securityHeaders(c.sameOrigin(bound(mux)))
}

// sameOrigin refuses a form another site's page sent, as the browser
// says (Sec-Fetch-Site, or Origin from older browsers): every form also
// carries a token, but a page that could set the console's cookies (a
// sibling site, plain HTTP on the way) could set the sign-in token too,
// post its own username and password, and sign the person in as someone
// else, whose work they would then record under that name.
func (c *Server) sameOrigin(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.Warn("a form sent from another site's page was refused", zap.String("path", r.URL.Path),
			zap.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")), zap.String("origin", r.Header.Get("Origin")))
		http.Error(w, "This form was sent from another site's page, so the console did nothing with it. Open the console itself and try again.", http.StatusForbidden)
	}))
	return p.Handler(next)
}

// routeMux is a ServeMux that keeps the patterns of the console's routes,
// so its tests can tell a page that nothing checks.
type routeMux struct {
	*http.ServeMux
	patterns *[]string
}

func (m routeMux) Handle(pattern string, h http.Handler) {
	*m.patterns = append(*m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// securityHeaders: no framing, no sniffing, scripts and styles only from the console.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

var funcs = template.FuncMap{
	"title":  func(a events.Agency) string { return a.Title() },
	"static": staticURL,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(london).Format("Mon 2 Jan ") + clockAt(t)
	},
	"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"timeLeft":   timeLeft,
	"words":      words,
	"dict":       fieldArgs,
	"need":       need,
	"ref":        episode.Reference,
	"whenFrom":   whenFrom,
	"riskTag":    func(r events.Risk) string { return riskTags[r] },
	"urgencyTag": func(u string) string { return urgencyTags[u] },
	"s136Clock":  func(now, due time.Time) clockArgs { return clockArgs{Now: now, Due: due, Warn: s136Warning} },
	"callClock":  func(now, due time.Time) clockArgs { return clockArgs{Now: now, Due: due, Warn: callWarning} },
	"workItemOf": func(p page, it record.WorkItem) workItemArgs { return workItemArgs{p, it} },
	"list":       func(s ...string) []string { return s },
	"posOf":      func(p page, action string) posArgs { return posArgs{p, action} },
}

var london = func() *time.Location {
	l, err := time.LoadLocation("Europe/London")
	if err != nil {
		return time.UTC
	}
	return l
}()

// timeLeft is a clock's remaining time as people say it: "23 h 5 min left",
// or "overdue by 12 min".
func timeLeft(now, due time.Time) string {
	d := due.Sub(now)
	suffix := " left"
	if d < 0 {
		d, suffix = -d, ""
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	var s string
	if h > 0 {
		s = fmt.Sprintf("%d h %d min", h, m)
	} else {
		s = fmt.Sprintf("%d min", m)
	}
	if suffix == "" {
		return "overdue by " + s
	}
	return s + suffix
}

// words turns a code of the contract into words ("nhs_number" → "NHS number").
func words(s string) string {
	s = strings.ReplaceAll(s, "_", " ")
	for _, w := range []string{"nhs", "amhp", "spoa", "bsl", "cmht", "s12", "mha"} {
		s = strings.ReplaceAll(" "+s+" ", " "+w+" ", " "+strings.ToUpper(w)+" ")
		s = strings.TrimSpace(s)
	}
	return strings.Replace(s, "SPOA", "SPoA", 1)
}

// need is a communication need as a person says it.
func need(n string) string {
	if w, ok := needs[n]; ok {
		return w
	}
	w := words(n)
	if w == "" {
		return w
	}
	return strings.ToUpper(w[:1]) + w[1:]
}

var needs = map[string]string{"interpreter": "Interpreter", "bsl": "British Sign Language (BSL)", "easy_read": "Easy read", "hearing_loop": "Hearing loop"}

// The NHS.UK tag colours of a risk and an urgency, most serious red.
var (
	riskTags    = map[events.Risk]string{"immediate": "tag--red", "high": "tag--red", "medium": "tag--orange", "low": "tag--grey"}
	urgencyTags = map[string]string{"emergency": "tag--red", "urgent": "tag--orange", "routine": "tag--grey"}
)

// clockArgs is a clock shown as an NHS.UK tag: green with time to spare,
// yellow once due within its warning time, red when overdue.
type clockArgs struct {
	Now, Due time.Time
	Warn     time.Duration
}

// The warning times of the clocks as shown, the clock service's (services/
// clock): an s136 period is warned of 2 hours before it ends; a follow-up
// call counts as due 2 hours before its time (the clock's grace after it).
const (
	s136Warning = 2 * time.Hour
	callWarning = 2 * time.Hour
)

// State is the clock's state: "spare", "due" or "over".
func (c clockArgs) State() string {
	switch left := c.Due.Sub(c.Now); {
	case left < 0:
		return "over"
	case left <= c.Warn:
		return "due"
	}
	return "spare"
}

// Tag is the NHS.UK tag colour of the clock's state.
func (c clockArgs) Tag() string {
	return map[string]string{"over": "tag--red", "due": "tag--yellow", "spare": "tag--green"}[c.State()]
}

// WarnSeconds is the warning time for the page's script, which keeps the
// colour as the clock counts down.
func (c clockArgs) WarnSeconds() int { return int(c.Warn.Seconds()) }

// workItemArgs gives the "workitem" template the page and one item.
type workItemArgs struct {
	Page page
	Item record.WorkItem
}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(webFS, "web/layout.html", "web/partials.html", "web/agency_*.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(webFS, "web/page_*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		t, err := template.Must(layout.Clone()).ParseFS(webFS, n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		pages[strings.TrimSuffix(strings.TrimPrefix(n, "web/page_"), ".html")] = t
	}
	return pages, nil
}

// page is what every page template gets.
type page struct {
	Title      string
	StoreAlert string // the store is full: shown on every page
	Session    session
	Now        time.Time
	Flash      string
	Errors     []fieldError // the error summary; each also shown by its field
	Form       url.Values   // what was typed, kept when there are errors
	Action     string       // the form that was posted, when its errors are shown
	Data       any
	// LiveSince is where the page stands in the live updates (a liveMark):
	// its stream is sent anything newer on connecting.
	LiveSince string
}

type fieldError struct {
	Field, Message string
}

// ErrorFor returns the message for a field, or "".
func (p page) ErrorFor(field string) string {
	for _, e := range p.Errors {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

// RecordsClinical reports whether the signed-in person records clinical
// text: a form's clinical fields are offered to them alone (doAction
// refuses them from anyone else).
func (p page) RecordsClinical() bool { return recordsClinical(p.Session) }

// Value is what was typed into a field.
func (p page) Value(field string) string { return p.Form.Get(field) }

func (c *Server) render(w http.ResponseWriter, r *http.Request, name string, status int, p page) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	if s, ok := sessionFrom(r.Context()); ok {
		p.Session = s
	}
	p.Now = c.cfg.Now()
	if m, ok := markFrom(r.Context()); ok && p.LiveSince == "" {
		p.LiveSince = m.String()
	}
	if c.cfg.StoreAlert != nil {
		p.StoreAlert = c.cfg.StoreAlert()
	}
	// A page refreshing itself (live.js) is sent its live regions alone,
	// where the page has them: a few kilobytes to read and put in place,
	// not the whole page with its forms. The confirmation of what the
	// person just did waits for their next whole page.
	whole := "layout.html"
	if isLive(r) && t.Lookup("live") != nil {
		whole = "live"
	} else if p.Flash == "" {
		p.Flash = c.takeFlash(r)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, whole, p); err != nil {
		if gone(r, err) {
			// The browser left (a page replaced by the next): not a fault.
			c.log.Debug("render: the browser left before the page was sent", zap.String("page", name), zap.Error(err))
			return
		}
		c.log.Error("render", zap.String("page", name), zap.Error(err))
	}
}

// reportsPage shows the partnership's tables, built from the stream, with a
// chart each; ?report=NAME&format=csv|json downloads one table.
func (c *Server) reportsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("report") != "" {
		c.reports.Handler(c.cfg.Now).ServeHTTP(w, r)
		return
	}
	rng, err := reports.RangeFromQuery(q, c.cfg.Now())
	if err != nil {
		c.render(w, r, "reports", http.StatusBadRequest, page{Title: "Reports", Errors: []fieldError{{"from", err.Error()}}})
		return
	}
	frag, err := reports.Fragment(c.reports.Projection(), rng)
	if err != nil {
		c.log.Error("reports", zap.Error(err))
		http.Error(w, "The reports could not be drawn just now.", http.StatusInternalServerError)
		return
	}
	c.render(w, r, "reports", http.StatusOK, page{Title: "Reports", Data: frag})
}

// signinWhy are the reasons a person was sent to sign in again, by the
// code in the address (never words from it).
var signinWhy = map[string]string{
	"idle":    "You were signed out because you had done nothing for a while. Sign in again to carry on.",
	"expired": "Your session reached the end of a shift and has ended. Sign in again to carry on.",
}

func (c *Server) signinPage(w http.ResponseWriter, r *http.Request) {
	var note string
	if why, ok := signinWhy[r.URL.Query().Get("why")]; ok {
		note = why
	}
	c.renderSignin(w, r, http.StatusOK, nil, url.Values{"next": {r.URL.Query().Get("next")}}, note)
}

// signinData is what the sign-in page shows.
type signinData struct {
	Token string
	Note  string     // why the person is here again
	Demo  []DemoUser // the demo people, in the embedded default only
}

func (c *Server) renderSignin(w http.ResponseWriter, r *http.Request, status int, errs []fieldError, form url.Values, note string) {
	// Reuse the browser's token if it has one, so a second tab or a stray
	// request for the sign-in page does not expire the form already open.
	token := randomToken()
	if ck, err := r.Cookie("crisisbus_signin"); err == nil && validToken(ck.Value) {
		token = ck.Value
	}
	http.SetCookie(w, &http.Cookie{Name: "crisisbus_signin", Value: token, Path: "/signin", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.secure(r), MaxAge: 3600})
	c.render(w, r, "signin", status, page{Title: "Sign in", Errors: errs, Form: form, Data: signinData{token, note, c.cfg.Demo}})
}

func (c *Server) signin(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		badRequest(w, err.Error())
		return
	}
	ck, _ := r.Cookie("crisisbus_signin")
	if ck == nil || !validToken(ck.Value) || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		c.renderSignin(w, r, http.StatusForbidden, []fieldError{{"username", "Your sign-in form expired. Enter your username and password again."}}, r.PostForm, "")
		return
	}
	username, password := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	next := r.PostForm.Get("next")
	form := url.Values{"username": {username}, "next": {next}}
	var errs []fieldError
	switch {
	case username == "":
		errs = append(errs, fieldError{"username", "Enter your username"})
	case len(username) > MaxUsernameLen:
		errs = append(errs, fieldError{"username", fmt.Sprintf("A username is at most %d characters", MaxUsernameLen)})
		form.Set("username", "")
	}
	switch {
	case password == "":
		errs = append(errs, fieldError{"password", "Enter your password"})
	case len(password) > MaxPasswordLen:
		errs = append(errs, fieldError{"password", fmt.Sprintf("A password is at most %d characters", MaxPasswordLen)})
	}
	if len(errs) > 0 {
		c.renderSignin(w, r, http.StatusUnprocessableEntity, errs, form, "")
		return
	}
	addr, now := c.clientAddr(r), c.cfg.Now()
	u, known := c.users.get(username)
	// Usernames are logged only when they are people's: a password typed
	// into the username box stays out of the log.
	logUser := zap.String("user", username)
	if !known {
		logUser = zap.String("user", "(not a username)")
	}
	// The try counts as a failure while its password is checked, so
	// guesses sent all at once wait as if sent one by one.
	if ref, ok := c.throttle.attempt(username, addr, now); !ok {
		c.log.Warn("sign-in refused: too many failures", logUser, zap.String("address", addr),
			zap.Int("failures", ref.failures), zap.Duration("wait", ref.wait), zap.Bool("by_address", ref.byAddr))
		c.renderSignin(w, r, http.StatusTooManyRequests, []fieldError{{"password", ref.message()}}, form, "")
		return
	}
	// At most a few passwords are checked at once, however many
	// addresses try together: the rest wait their turn a little, then are
	// told the console is busy, their password neither checked nor
	// counted as wrong.
	if !c.checks.take(r.Context()) {
		c.throttle.abandon(username, addr)
		c.log.Warn("sign-in refused: the console is busy checking passwords", logUser, zap.String("address", addr),
			zap.Int("checks_at_once", cap(c.checks.slots)), zap.Bool("browser_left", r.Context().Err() != nil))
		w.Header().Set("Retry-After", strconv.Itoa(int(busyRetry/time.Second)))
		c.renderSignin(w, r, http.StatusServiceUnavailable, []fieldError{{"password", busyMessage}}, form, "")
		return
	}
	matches := func() bool {
		defer c.checks.release()
		if c.cfg.checking != nil {
			c.cfg.checking()
		}
		return passwordMatches(u, known, password)
	}()
	if !matches {
		n := c.throttle.fail(username, addr, now)
		c.log.Warn("sign-in failed", logUser, zap.String("address", addr), zap.Int("failures", n), zap.Bool("disabled", known && u.Disabled))
		c.renderSignin(w, r, http.StatusUnprocessableEntity, []fieldError{{"password", "The username or password is not right"}}, form, "")
		return
	}
	c.throttle.succeed(username, addr)
	id, err := c.sessions.create(r.Context(), u, now)
	if err != nil {
		c.log.Error("sign in", zap.Error(err))
		http.Error(w, "Signing in failed: the console could not reach the bus. Try again.", http.StatusServiceUnavailable)
		return
	}
	// A cookie of the browser's session, never kept on disk: closing the
	// browser of a shared computer forgets it. The session itself ends
	// after sessionTTL whatever happens (ended).
	c.setSessionCookie(w, r, id, 0)
	c.log.Info("signed in", zap.String("user", u.Username), zap.String("agency", string(u.Agency)), zap.String("address", addr))
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (c *Server) signout(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionFrom(r.Context())
	c.endSession(w, r, sessionIDFrom(r.Context()), s, "signed out")
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// gone reports whether err is the browser having left: the request
// cancelled, or the connection closed under a write.
func gone(r *http.Request, err error) bool {
	return r.Context().Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}
