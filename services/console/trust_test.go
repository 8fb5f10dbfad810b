package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/console"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// post sends a form of the page last fetched (its CSRF token taken from
// it) as the person signed in to a, without following the redirect.
func (a *attacker) post(page, path string, form url.Values) (int, string) {
	a.t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		a.t.Fatalf("no form token on the page: %s", page)
	}
	form.Set("csrf", m[1])
	resp, err := a.client.PostForm(a.base+path, form)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// stored is what the episode holds of the given event type, by the agency
// that recorded it, each with its data.
func stored(t *testing.T, bus *natsbus.Bus, ep, typ string) (out []events.Event) {
	t.Helper()
	if _, err := bus.Replay(context.Background(), events.EpisodeSubjects(ep), func(e events.Event, _ uint64) error {
		if e.Type == typ {
			out = append(out, e)
		}
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

const (
	adviceType = "crisisbus.triage.advice_given.v1"
	streetType = "crisisbus.street_triage.outcome.v1"
)

// A call handler and the control-room mental health worker sit in the
// same police control room, under the same agency; only the mental health
// worker is the trust's staff (the demo police.mhw is marked so,
// police.handler is not). The call handler's page offers no health-history
// box and no box for the street triage nurse's notes; posting either by
// plain HTTP anyway is refused with 403 in words, and nothing is stored.
// The call handler still records advice and a street triage outcome
// without clinical text, with police. The mental health worker's page
// offers both boxes, and their advice with its health history is recorded
// under the trust (SPoA); the call handler's page never shows it.
func TestACallHandlerIsRefusedHealthHistoryAndTheMentalHealthWorkersAdviceIsRecordedUnderTheTrust(t *testing.T) {
	base, bus := startWholeSystem(t)
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](context.Background(), bus.Conn(), agency.Subject(events.Police, "open"),
		agency.OpenRequest{Actor: "Chris Morgan (Control-room call handler)", Channel: "999", Summary: "Man on the outside of the railings of Rochester bridge", Location: "Rochester bridge"})
	if err != nil {
		t.Fatal(err)
	}
	ep := opened.Episode
	episodePath := "/episodes/" + ep
	const history = "Bipolar disorder; lithium; admitted to Priority House in 2024"
	const notes = "Paranoid ideation, no intent to harm; agreed to see the crisis team tomorrow"

	handler := newAttacker(t, base, "")
	if code, body := handler.try("police.handler", "crisisbus-police"); code != http.StatusSeeOther {
		t.Fatalf("the call handler signing in: %d %s", code, body)
	}
	code, page := fetch(t, handler.client, base+episodePath)
	if code != http.StatusOK || !strings.Contains(page, `action="`+episodePath+`/advice"`) || !strings.Contains(page, `action="`+episodePath+`/street"`) {
		t.Fatalf("the call handler's episode page: %d, with the advice and street triage forms: %v %v", code,
			strings.Contains(page, "/advice\""), strings.Contains(page, "/street\""))
	}
	for _, clinical := range []string{`name="healthHistory"`, `id="advice-healthHistory"`, `id="street-notes"`, "Relevant health history", "The street triage nurse's notes"} {
		if strings.Contains(page, clinical) {
			t.Errorf("the call handler's page offers a clinical field: %s", clinical)
		}
	}
	if !strings.Contains(page, "The health history is clinical: the control-room mental health worker records it") {
		t.Error("the call handler's advice form does not say who records the health history")
	}

	// Posted anyway, by plain HTTP: refused, in words, and nothing stored.
	code, body := handler.post(page, episodePath+"/advice", url.Values{"advice": {"Known to the CMHT; use s136"},
		"recommendedAction": {"consider_s136"}, "knownToServices": {"yes"}, "healthHistory": {history}})
	if code != http.StatusForbidden {
		t.Fatalf("the call handler's advice with a health history: %d, want 403: %s", code, body)
	}
	for _, want := range []string{"Nothing was stored", "Clinical text (the health history) is recorded only by the mental health trust's staff working in the police control room",
		"You are signed in as police.handler, who is not marked as the trust's staff", "send the form without the health history"} {
		if !strings.Contains(body, want) {
			t.Errorf("the refusal does not say %q: %s", want, body)
		}
	}
	code, body = handler.post(page, episodePath+"/street", url.Values{"s136Avoided": {"yes"}, "outcome": {"safe_haven"}, "notes": {notes}})
	if code != http.StatusForbidden || !strings.Contains(body, "Clinical text (the street triage nurse's notes)") {
		t.Fatalf("the call handler's street triage outcome with the nurse's notes: %d, want 403: %s", code, body)
	}
	if got := append(stored(t, bus, ep, adviceType), stored(t, bus, ep, streetType)...); len(got) != 0 {
		t.Fatalf("refused, yet the episode holds %d advice or outcome events: %+v", len(got), got)
	}

	// Without clinical text the call handler records both, with police.
	if code, body = handler.post(page, episodePath+"/advice", url.Values{"advice": {"Caller says he is known to the CMHT"}, "recommendedAction": {"refer_spoa"}}); code != http.StatusSeeOther {
		t.Fatalf("the call handler's advice without a health history: %d, want 303: %s", code, body)
	}
	if code, body = handler.post(page, episodePath+"/street", url.Values{"s136Avoided": {"yes"}, "outcome": {"safe_haven"}}); code != http.StatusSeeOther {
		t.Fatalf("the call handler's street triage outcome without notes: %d, want 303: %s", code, body)
	}
	for _, typ := range []string{adviceType, streetType} {
		if got := stored(t, bus, ep, typ); len(got) != 1 || got[0].Source != events.Police {
			t.Fatalf("the call handler's %s: %d stored, want 1 by police: %+v", typ, len(got), got)
		}
	}

	// The control-room mental health worker is the trust's staff.
	mhw := newAttacker(t, base, "")
	if code, body := mhw.try("police.mhw", "crisisbus-police"); code != http.StatusSeeOther {
		t.Fatalf("the mental health worker signing in: %d %s", code, body)
	}
	code, page = fetch(t, mhw.client, base+episodePath)
	if code != http.StatusOK || !strings.Contains(page, `name="healthHistory"`) || !strings.Contains(page, `id="street-notes"`) {
		t.Fatalf("the mental health worker's page: %d; offers the health history: %v, the nurse's notes: %v", code,
			strings.Contains(page, `name="healthHistory"`), strings.Contains(page, `id="street-notes"`))
	}
	if code, body = mhw.post(page, episodePath+"/advice", url.Values{"advice": {"Known to the Medway CMHT. Use s136 to the health-based place of safety if he will not come away."},
		"recommendedAction": {"consider_s136"}, "knownToServices": {"yes"}, "healthHistory": {history}}); code != http.StatusSeeOther {
		t.Fatalf("the mental health worker's advice with a health history: %d, want 303: %s", code, body)
	}
	var trust []events.Event
	for _, e := range stored(t, bus, ep, adviceType) {
		if e.Source == events.SPoA {
			trust = append(trust, e)
		}
	}
	if len(trust) != 1 {
		t.Fatalf("the mental health worker's advice: %d recorded under the trust, want 1", len(trust))
	}
	var advice events.TriageAdviceGiven
	if err := json.Unmarshal(trust[0].Data, &advice); err != nil || advice.HealthHistory != history || !strings.Contains(trust[0].Actor, "Alex Reid") {
		t.Fatalf("the advice recorded under the trust: %+v by %q (%v)", advice, trust[0].Actor, err)
	}

	// The call handler's page shows the advice, never the health history.
	bustest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		if _, page := fetch(t, handler.client, base+episodePath); !strings.Contains(page, "Known to the Medway CMHT") {
			return errors.New("the call handler's page does not show the mental health worker's advice yet")
		} else if strings.Contains(page, "lithium") {
			t.Fatal("the call handler's page shows the health history")
		}
		return nil
	})
}

// The trust's staff mark is read from the users file again as agency and
// disabled are: taking it away (or giving it) ends the person's session at
// their next click, so a page rendered with the clinical fields is never
// sent on with the mark gone.
func TestTakingTheTrustStaffMarkAwaySignsThePersonOutAtTheirNextClick(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	hash, err := console.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	users := console.UsersFile{Users: []console.User{{Username: "a.reid", Name: "Alex Reid", Agency: events.Police,
		Role: "Control-room mental health worker", Hash: hash, TrustStaff: true}}}
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	b := bustest.Start(t, "")
	nc := bustest.Conn(t, b, events.Agency(broker.Console))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := console.Start(ctx, nc, console.Config{Addr: "127.0.0.1:0", UsersFile: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)

	a := newAttacker(t, c.URL(), "")
	if code, body := a.try("a.reid", "correct horse battery"); code != http.StatusSeeOther {
		t.Fatalf("signing in: %d %s", code, body)
	}
	if code, _ := fetch(t, a.client, c.URL()+"/"); code != http.StatusOK {
		t.Fatalf("the worklist, marked: %d", code)
	}
	users.Users[0].TrustStaff = false
	if err := console.WriteUsersFile(file, users); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 5*time.Second, 200*time.Millisecond, func() error {
		resp, err := a.client.Get(c.URL() + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if to := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(to, "/signin") {
			return fmt.Errorf("still signed in after the mark was taken away: %s", resp.Status)
		}
		return nil
	})
	// Signed in again, without the mark: the clinical fields are gone.
	if code, body := a.try("a.reid", "correct horse battery"); code != http.StatusSeeOther {
		t.Fatalf("signing in again: %d %s", code, body)
	}
	if code, _ := fetch(t, a.client, c.URL()+"/"); code != http.StatusOK {
		t.Fatalf("the worklist, unmarked: %d", code)
	}
}
