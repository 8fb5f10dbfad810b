package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/console"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// Guesses sent all at once, for one username from one address, were each
// checked against the password: the wait after 3 failures was decided
// before any of them had failed. Only 3 may be checked, however they come.
func TestGuessesSentAllAtOnceAreThrottledAsIfOneByOne(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{BehindProxy: true})
	const n = 24
	forms := make([]url.Values, n)
	guessers := make([]*attacker, n)
	for i := range n {
		guessers[i] = newAttacker(t, c.URL(), "203.0.113.77")
		forms[i] = guessers[i].ready()
		forms[i].Set("username", "amhp.duty")
		forms[i].Set("password", fmt.Sprintf("Winter2026!guess%d", i))
	}
	var (
		mu               sync.Mutex
		checked, refused int
		wg               sync.WaitGroup
		start            = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			code, _ := guessers[i].signIn(forms[i])
			mu.Lock()
			defer mu.Unlock()
			switch code {
			case http.StatusUnprocessableEntity:
				checked++
			case http.StatusTooManyRequests:
				refused++
			default:
				t.Errorf("a guess: %d", code)
			}
		})
	}
	close(start)
	wg.Wait()
	if checked > 3 {
		t.Fatalf("of %d guesses sent at once %d were checked against the password (%d refused); want at most 3", n, checked, refused)
	}
}

// The control room's mental health worker records clinical text under the
// trust (SPoA). Their advice was sent to SPoA's service on any episode
// SPoA has a part in, one the police have never had a part in included:
// a write through the trust where the police may not even look without
// saying why. The police must have a part in the episode themselves.
func TestTheTrustsStaffInThePoliceRoomRecordOnlyOnEpisodesThePoliceHaveAPartIn(t *testing.T) {
	base, bus := startWholeSystem(t)
	// SPoA's own episode: a GP's referral the police have no part in.
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](context.Background(), bus.Conn(), agency.Subject(events.SPoA, "open"),
		agency.OpenRequest{Actor: "Morgan Lee (SPoA clinician)", Channel: "referral", Summary: "GP referral: low mood after bereavement", Location: "Gillingham"})
	if err != nil {
		t.Fatal(err)
	}
	ep := opened.Episode
	mhw := newAttacker(t, base, "")
	if code, body := mhw.try("police.mhw", "crisisbus-police"); code != http.StatusSeeOther {
		t.Fatalf("the mental health worker signing in: %d %s", code, body)
	}
	_, home := fetch(t, mhw.client, base+"/")
	code, body := mhw.post(home, "/episodes/"+ep+"/advice", url.Values{"advice": {"Use s136"}, "recommendedAction": {"consider_s136"},
		"healthHistory": {"Bipolar disorder; lithium"}})
	if code == http.StatusSeeOther {
		t.Errorf("advice on an episode the police have no part in: %d %s, want it refused", code, body)
	}
	code, body = mhw.post(home, "/episodes/"+ep+"/street", url.Values{"s136Avoided": {"yes"}, "outcome": {"safe_haven"}, "notes": {"Paranoid ideation"}})
	if code == http.StatusSeeOther {
		t.Errorf("a street triage outcome on an episode the police have no part in: %d %s, want it refused", code, body)
	}
	if got := append(stored(t, bus, ep, adviceType), stored(t, bus, ep, streetType)...); len(got) != 0 {
		t.Fatalf("the episode the police have no part in holds %d advice or outcome events from the control room: %+v (last answer %s)", len(got), got, body)
	}
}

// startWholeSystem runs all of crisisbus and returns the console's URL
// and a connection to the bus as its admin.
func startWholeSystem(t *testing.T) (string, *natsbus.Bus) {
	t.Helper()
	sys, err := system.Start(t.Context(), system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	bus, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	u := sys.PageURL("console")
	if u == "" {
		t.Fatalf("no console among %v", sys.URLs)
	}
	return u, bus
}

const linkedType = "crisisbus.episode.linked.v1"

// The console offers to link an episode only with the episodes the record
// found may be the same person. A form posted by hand linked the police's
// episode with any episode whose id the person knew, and recorded the
// link, with its reason, on that episode of another agency.
func TestAnEpisodeIsLinkedOnlyWithAnEpisodeTheRecordFoundMayBeTheSamePerson(t *testing.T) {
	base, bus := startWholeSystem(t)
	open := func(a events.Agency, actor, summary string) string {
		opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](context.Background(), bus.Conn(), agency.Subject(a, "open"),
			agency.OpenRequest{Actor: actor, Channel: "referral", Summary: summary, Location: "Gillingham"})
		if err != nil {
			t.Fatal(err)
		}
		return opened.Episode
	}
	ours := open(events.Police, "Chris Morgan (Control-room call handler)", "Woman in distress at Gillingham station")
	theirs := open(events.SPoA, "Morgan Lee (SPoA clinician)", "GP referral: low mood after bereavement")

	handler := newAttacker(t, base, "")
	if code, body := handler.try("police.handler", "crisisbus-police"); code != http.StatusSeeOther {
		t.Fatalf("signing in: %d %s", code, body)
	}
	_, page := fetch(t, handler.client, base+"/episodes/"+ours)
	if strings.Contains(page, `action="/episodes/`+ours+`/link"`) {
		t.Fatal("the page offers a link with no episode found to be the same person")
	}
	code, body := handler.post(page, "/episodes/"+ours+"/link", url.Values{"match": {theirs + "|nhs_number"}, "reason": {"Same person"}})
	if code == http.StatusSeeOther {
		t.Errorf("a link with an episode the record did not find: %d, want it refused", code)
	}
	if got := stored(t, bus, theirs, linkedType); len(got) != 0 {
		t.Fatalf("SPoA's episode holds %d links from the police (answer %d %s)", len(got), code, body)
	}
}

// A new password given in the users file ends the sessions of the old
// one. The console noticed a change of the file by its time and size
// alone: a reset (a bcrypt hash is as long as the one before) written
// within the same tick of the file system's clock, or copied in keeping
// its time (cp -p, rsync -a), went unnoticed, and the old password and
// its sessions went on working.
func TestAPasswordResetIsNoticedWhateverTheFilesTime(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	old, err := console.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	users := console.UsersFile{Users: []console.User{{Username: "j.okoye", Name: "Jade Okoye", Agency: events.AMHP, Role: "Duty AMHP", Hash: old}}}
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := startConsoleWith(t, console.Config{UsersFile: file})
	a := newAttacker(t, c.URL(), "")
	if code, body := a.try("j.okoye", "correct horse battery"); code != http.StatusSeeOther {
		t.Fatalf("signing in: %d %s", code, body)
	}
	fresh, err := console.HashPassword("a brand new passphrase")
	if err != nil {
		t.Fatal(err)
	}
	users.Users[0].Hash = fresh
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(file, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the console looks at the file at most once a second
	resp, err := a.client.Get(c.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if to := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(to, "/signin") {
		t.Errorf("the session of the old password after a reset: %s, want it ended", resp.Status)
	}
	if code, _ := newAttacker(t, c.URL(), "").try("j.okoye", "correct horse battery"); code == http.StatusSeeOther {
		t.Errorf("the old password after a reset: %d, want it refused", code)
	}
}

// The demo people's passwords are in the README and on the sign-in page.
// With no users file, a console listening beyond this machine (--http
// 0.0.0.0:8080) let anyone who reached it sign in as any agency. It now
// refuses to start, saying what to do.
func TestTheDemoPeopleAreNeverServedBeyondThisMachine(t *testing.T) {
	b := bustest.Start(t, "")
	nc := bustest.Conn(t, b, events.Agency(broker.Console))
	c, err := console.Start(t.Context(), nc, console.Config{Addr: "0.0.0.0:0"})
	if err == nil {
		c.Stop()
		t.Fatalf("the console with its demo people started on %s, open to the network", c.URL())
	}
	for _, want := range []string{"demo people", "users file", "127.0.0.1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
}

// A person whose agency has no part in an episode opens it only with a
// reason, which the record keeps with their view. The reason was kept in
// the session as soon as it was posted, and the live stream told them of
// every change to the episode from then on, even if the page was never
// opened: the record never heard of the reason.
func TestAReasonOpensTheLiveUpdatesOfAnEpisodeOnlyOnceTheRecordHasIt(t *testing.T) {
	base, bus := startWholeSystem(t)
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](context.Background(), bus.Conn(), agency.Subject(events.SPoA, "open"),
		agency.OpenRequest{Actor: "Morgan Lee (SPoA clinician)", Channel: "referral", Summary: "GP referral: low mood after bereavement", Location: "Gillingham"})
	if err != nil {
		t.Fatal(err)
	}
	ep := opened.Episode
	const reason = "Caller says she is at the station now"
	handler := newAttacker(t, base, "")
	if code, body := handler.try("police.handler", "crisisbus-police"); code != http.StatusSeeOther {
		t.Fatalf("signing in: %d %s", code, body)
	}
	_, home := fetch(t, handler.client, base+"/")
	// The reason is posted; the page it leads to is not opened.
	if code, body := handler.post(home, "/episodes/"+ep+"/reason", url.Values{"reason": {reason}}); code != http.StatusSeeOther {
		t.Fatalf("the reason: %d %s", code, body)
	}
	resp, err := handler.client.Get(base + "/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	heard := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				heard <- string(buf[:n])
			}
			if err != nil {
				close(heard)
				return
			}
		}
	}()
	if _, err := rpc.Call[agency.IdentifyRequest, agency.Receipt](context.Background(), bus.Conn(), agency.Subject(events.SPoA, "identify"),
		agency.IdentifyRequest{Base: agency.Base{Episode: ep, Actor: "Morgan Lee (SPoA clinician)"}, PersonIdentified: events.PersonIdentified{GivenName: "Aisha"}}); err != nil {
		t.Fatal(err)
	}
	told := false
	for deadline := time.After(3 * time.Second); !told; {
		select {
		case s, ok := <-heard:
			told = ok && strings.Contains(s, ep)
			if !ok {
				t.Fatal("the live stream ended")
			}
		case <-deadline:
			return // not told: nothing to check
		}
	}
	bustest.CheckFor(t, 5*time.Second, 100*time.Millisecond, func() error {
		d, err := rpc.Call[record.EpisodeRequest, record.DisclosuresResponse](context.Background(), bus.Conn(), record.SubjectDisclosures, record.EpisodeRequest{Episode: ep})
		if err != nil {
			return err
		}
		for _, x := range d.Disclosures {
			if x.Agency == events.Police && strings.Contains(x.Purpose, reason) {
				return nil
			}
		}
		return fmt.Errorf("the control room was told of a change to an episode it has no part in, and the record holds no reason of theirs: %+v", d.Disclosures)
	})
}

// A page keeps one live connection open for as long as it is open. One
// person's session could open any number of them (a script, not pages),
// each read again against the bus every few seconds and each held by the
// console: one person could wear the console and the bus down for
// everyone. A session has a bounded number of live connections at once.
func TestOneSessionHoldsOnlySoManyLiveConnections(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{})
	a := newAttacker(t, c.URL(), "")
	if code, body := a.try("amhp.duty", "crisisbus-amhp"); code != http.StatusSeeOther {
		t.Fatalf("signing in: %d %s", code, body)
	}
	var open []*http.Response
	defer func() {
		for _, r := range open {
			r.Body.Close()
		}
	}()
	refused := 0
	for range 60 {
		resp, err := a.client.Get(c.URL() + "/live")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			open = append(open, resp)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a live connection: %s", resp.Status)
		}
		refused++
	}
	if len(open) > 32 {
		t.Fatalf("one session holds %d live connections at once (%d refused); want at most 32", len(open), refused)
	}
	// Closing them lets the person's pages connect again.
	for _, r := range open {
		r.Body.Close()
	}
	open = nil
	bustest.CheckFor(t, 5*time.Second, 100*time.Millisecond, func() error {
		resp, err := a.client.Get(c.URL() + "/live")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("a live connection after the others closed: %s", resp.Status)
		}
		open = append(open, resp)
		return nil
	})
}

// The users file holds every person's password hash. A file others on the
// machine may read (written by hand, or copied with the usual umask) was
// used without a word; the console now says so in its log, as the store
// key's file does.
func TestAUsersFileOthersMayReadIsWarnedOf(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	h, err := console.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if err := console.WriteUsersFile(file, console.UsersFile{Users: []console.User{{Username: "j.okoye", Name: "Jade Okoye", Agency: events.AMHP, Role: "Duty AMHP", Hash: h}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	startConsoleWith(t, console.Config{UsersFile: file, Log: zap.New(core)})
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "users file is readable by others") {
			return
		}
	}
	t.Fatalf("no warning of a users file of mode 0644: %+v", logs.All())
}

// A control room's computers are shared. The session cookie was kept for
// 12 hours, on disk: a person who closed the browser to sign out left the
// next person at the desk signed in as them (until the idle limit). The
// session cookie now lasts only as long as the browser is open; the
// console still ends the session after 12 hours whatever happens.
func TestClosingTheBrowserForgetsTheSession(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{})
	a := newAttacker(t, c.URL(), "")
	a.ready()
	u, _ := url.Parse(c.URL() + "/signin")
	var token string
	for _, ck := range a.client.Jar.Cookies(u) {
		token = ck.Value
	}
	form := url.Values{"csrf": {token}, "username": {"amhp.duty"}, "password": {"crisisbus-amhp"}}
	resp, err := a.client.PostForm(c.URL()+"/signin", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, line := range resp.Header.Values("Set-Cookie") {
		if !strings.HasPrefix(line, "crisisbus_session=") {
			continue
		}
		found = true
		for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
			if !strings.Contains(line, want) {
				t.Errorf("the session cookie lacks %s: %s", want, line)
			}
		}
		if l := strings.ToLower(line); strings.Contains(l, "max-age") || strings.Contains(l, "expires") {
			t.Errorf("the session cookie is kept after the browser closes: %s", line)
		}
	}
	if !found {
		t.Fatalf("no session cookie on signing in: %s %v", resp.Status, resp.Header.Values("Set-Cookie"))
	}
}
