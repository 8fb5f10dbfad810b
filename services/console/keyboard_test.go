package console_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
)

// keyboard is one person at the console with a keyboard and no mouse:
// every step is a key pressed through DevTools (Input.dispatchKeyEvent).
type keyboard struct {
	*person
	presses int
}

// focus is what has the keyboard focus, and whether a sighted person
// can see that it has.
type focus struct {
	Desc    string `json:"desc"`
	Visible bool   `json:"visible"`
	Why     string `json:"why"`
}

// focusNow describes the focused element, and finds whether its focus is
// shown: it matches :focus-visible and has an outline, a box shadow or the
// NHS focus yellow.
const focusNow = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return JSON.stringify({desc: "nothing", visible: false, why: "nothing has the focus"});
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0 && s.outlineColor !== "rgba(0, 0, 0, 0)" && s.outlineColor !== "transparent";
  const shadow = s.boxShadow !== "none";
  const yellow = s.backgroundColor === "rgb(255, 235, 59)";
  const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 60);
  const desc = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.name ? "[name=" + el.name + "]" : "") + (el.type === "radio" || el.type === "checkbox" ? "[value=" + el.value + "]" : "") + (text ? " “" + text + "”" : "");
  return JSON.stringify({desc, visible: el.matches(":focus-visible") && (outline || shadow || yellow), why: "outline " + s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor + ", shadow " + s.boxShadow + ", background " + s.backgroundColor});
})()`

// focused is what has the focus now.
func (k *keyboard) focused() focus {
	k.t.Helper()
	var f focus
	if err := json.Unmarshal([]byte(browsertest.Get(k.t, k.tab, "what has the focus", chromedp.Evaluate[string](focusNow))), &f); err != nil {
		k.t.Fatal(err)
	}
	return f
}

// press presses one key (Tab, Enter, a space, or a character to type).
func (k *keyboard) press(key string, shift bool) {
	k.t.Helper()
	var opts []chromedp.KeyOption
	if shift {
		opts = append(opts, chromedp.KeyModifiers(chromedp.ModifierShift))
	}
	k.presses++
	k.do(fmt.Sprintf("press %q", key), chromedp.KeyEvent(key, opts...))
}

// is reports whether the focused element matches the CSS selector.
func (k *keyboard) is(sel string) bool {
	k.t.Helper()
	return browsertest.Get(k.t, k.tab, "does "+sel+" have the focus", chromedp.Evaluate[bool](
		`!!document.activeElement && document.activeElement.matches(`+"`"+sel+"`"+`)`))
}

// tabTo presses Tab (Shift+Tab when back) until the element sel has the
// focus, failing if it cannot be reached in 80 presses, and checking at
// each stop that the focus can be seen.
func (k *keyboard) tabTo(sel, what string, back bool) {
	k.t.Helper()
	for i := 0; i < 80; i++ {
		k.press(kb.Tab, back)
		f := k.focused()
		if testing.Verbose() {
			k.t.Logf("focus: %s", f.Desc)
		}
		if !f.Visible {
			k.t.Errorf("going to %s, the focus on %s cannot be seen (%s)", what, f.Desc, f.Why)
		}
		if k.is(sel) {
			return
		}
	}
	browsertest.Screenshot(k.t, k.tab, "FAILED-tab-to-"+strings.Fields(what)[0])
	k.t.Fatalf("%s (%s) cannot be reached with Tab: after 80 presses the focus is on %s", what, sel, k.focused().Desc)
}

// typeText types text into the focused field.
func (k *keyboard) typeText(text string) {
	k.t.Helper()
	k.presses += len(text)
	k.do("type "+text, chromedp.KeyEvent(text))
}

// follow presses Enter on the focused link or button and waits for the
// page it opens.
func (k *keyboard) follow(what string) {
	k.t.Helper()
	k.markPage()
	k.press(kb.Enter, false)
	deadline := time.Now().Add(15 * time.Second)
	for k.notReloadedYet() {
		if time.Now().After(deadline) {
			k.t.Fatalf("%s: Enter opened no page", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signInByKeyboard signs in from the sign-in page with the keyboard only.
func signInByKeyboard(t *testing.T, k *keyboard, base, username, password string) {
	t.Helper()
	k.do("open the sign-in page", chromedp.Navigate(base+"/signin"), chromedp.WaitVisible(chromedp.CSS("#username")))
	k.tabTo("#username", "the username", false)
	k.typeText(username)
	k.tabTo("#password", "the password", false)
	k.typeText(password)
	k.follow("sign in")
	k.do("signed in", chromedp.WaitVisible(chromedp.CSS(".header-user")))
}

// The duty AMHP takes an s136 assessment request and records that the man
// was not admitted, with the keyboard alone: Tab and Shift+Tab to move,
// Enter to follow and submit, Space to open a section and choose (and the
// arrow keys within a group of radios, the only way a browser moves
// between them). Every stop shows where the focus is, and every step can
// be reached.
func TestTheAMHPJourneyWithTheKeyboardOnly(t *testing.T) {
	base, send := startSystemAtWithSend(t, 20, 0)
	pc := agency.Base{Actor: "PC 2209 Nwosu"}
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: pc.Actor, Channel: "999", Summary: "Man on Rochester bridge", Location: "Rochester bridge, Rochester",
		Person: &events.PersonIdentified{GivenName: "Tomasz", FamilyName: "Nowak", AgeYears: 41}}, &opened)
	pc.Episode = opened.Episode
	send(events.Police, "s136.consult", police.ConsultRequest{Base: pc, S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "s136 to the suite"}}, nil)
	send(events.Police, "s136.detain", police.DetainRequest{Base: pc, DetainedAt: todayAt(19, 40), LocationType: "public_place", AgeYears: 41}, nil)
	send(events.Police, "pos.arrive", police.ArriveRequest{Base: pc, PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{ArrivedAt: todayAt(19, 55),
		PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Medway s136 suite"}}, nil)
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: pc, Kind: events.MHAAssessment, To: events.AMHP, Reason: "s136 assessment", Urgency: "emergency"}, nil)

	browser := browsertest.New(t)
	k := &keyboard{person: &person{t: t, tab: browsertest.NewTab(t, browser), base: base}}
	signInByKeyboard(t, k, base, "amhp.duty", "crisisbus-amhp")
	k.waitFor("the request in the queue", 10*time.Second, func(main string) bool { return strings.Contains(main, "Tomasz Nowak") })

	k.tabTo(`.card form[action$="/accept"] button`, "the request's Accept button", false)
	k.follow("accept the assessment")
	k.flash("Accepted")
	if owner := k.text("#ep-status"); !strings.Contains(owner, "AMHP service (you)") {
		t.Fatalf("after accepting by keyboard, the owner reads %q", owner)
	}
	k.tabTo("#outcome > summary", "the outcome section", false)
	k.press(" ", false)
	if open := browsertest.Get(t, k.tab, "is the section open", chromedp.Evaluate[bool](`document.getElementById("outcome").open`)); !open {
		t.Fatal("Space on the outcome section's summary does not open it")
	}
	// "Not admitted" is the last of the outcomes: Tab stops once in a
	// group of radios, and the arrow keys move within it (choosing as they
	// go), as in every browser; Space chooses the one with the focus.
	k.tabTo(`input[name=outcome][value=detained_s2]`, "the first outcome", false)
	for i := 0; i < 3; i++ {
		k.press(kb.ArrowDown, false)
		if f := k.focused(); !f.Visible {
			t.Errorf("moving through the outcomes, the focus on %s cannot be seen (%s)", f.Desc, f.Why)
		}
	}
	k.press(" ", false)
	if !k.is(`input[name=outcome][value=not_admitted]:checked`) {
		t.Fatalf("the arrows and Space choose %s, not “Not admitted”", k.focused().Desc)
	}
	// Shift+Tab goes back to what came before, and Tab on to the notes.
	k.tabTo("#outcome > summary", "back to the outcome section", true)
	k.tabTo("#outcome-notes", "the notes", false)
	k.typeText("No detainable illness today; safety plan with his sister")
	k.tabTo(`form[action$="/outcome"] button[type=submit]`, "Record the outcome", false)
	browsertest.Screenshot(t, k.tab, "keyboard-amhp-outcome")
	k.follow("record the outcome")
	k.flash("The helpline has been offered 4 days of follow-up calls")
	k.waitFor("the outcome on the timeline", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Assessment completed at") && strings.Contains(main, ": not admitted")
	})
	t.Logf("the AMHP's journey took %d key presses", k.presses)
}

// The helpline worker takes on Daniel's follow-up and records the first
// two calls, each on its day, with the keyboard alone, signing in again
// each day; the calls table shows both made.
func TestTheHelplineJourneyWithTheKeyboardOnly(t *testing.T) {
	days := newClock()
	base, send := startSystemWithClock(t, days)
	var opened agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hughes", Channel: "999", Summary: "Man on Rochester bridge",
		Person: &events.PersonIdentified{GivenName: "Daniel", FamilyName: "Brook"}}, &opened)
	var offer agency.OfferResponse
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: agency.Base{Episode: opened.Episode, Actor: "PC 4471 Hughes"}, Kind: events.MHAAssessment,
		To: events.AMHP, Reason: "assessment needed", Urgency: "emergency"}, &offer)
	send(events.AMHP, "handoff.accept", agency.HandoffRequest{Base: agency.Base{Episode: opened.Episode, Actor: "AMHP Sarah Okafor"}, HandoffID: offer.HandoffID}, nil)
	send(events.AMHP, "outcome", amhpOutcome(opened.Episode, days.Now()), nil)

	browser := browsertest.New(t)
	k := &keyboard{person: &person{t: t, tab: browsertest.NewTab(t, browser), base: base}}
	signInByKeyboard(t, k, base, "helpline.worker", "crisisbus-crisisline")
	k.waitFor("the offer on the helpline's list", 10*time.Second, func(main string) bool { return strings.Contains(main, "Daniel Brook") })
	k.tabTo(`.card form[action$="/accept"] button`, "the follow-up's Accept button", false)
	k.follow("accept the follow-up")
	k.flash("Accepted")

	for call := 1; call <= 2; call++ {
		// The next day: sign in again, and from the list open Daniel's
		// episode, where the form offers the call due.
		days.advance(24*time.Hour + time.Minute)
		signInByKeyboard(t, k, base, "helpline.worker", "crisisbus-crisisline")
		k.waitFor("Daniel on the list", 10*time.Second, func(main string) bool { return strings.Contains(main, "Daniel Brook") })
		k.tabTo(`.card h3 a[href="/episodes/`+opened.Episode+`"]`, "Daniel's episode", false)
		k.follow("open Daniel's episode")
		k.do("the call form", chromedp.WaitVisible(chromedp.CSS("#contact-contactNumber")))
		if got := k.chosen("#contact-contactNumber"); got != fmt.Sprint(call) {
			t.Fatalf("day %d: which call offers %q first, want call %d", call, got, call)
		}
		k.tabTo(`input[name=outcome][value=spoke]`, "“Spoke to them”", false)
		k.press(" ", false)
		k.tabTo(`input[name=risk][value=low]`, "risk “Low”", false)
		k.press(" ", false)
		k.tabTo("#contact-notes", "the call's notes", false)
		k.typeText(fmt.Sprintf("Call %d: staying with his sister, feels safer", call))
		k.tabTo(`form[action$="/contact"] button[type=submit]`, "Record the call", false)
		k.follow(fmt.Sprintf("record call %d", call))
		k.flash("Call recorded")
		k.waitFor(fmt.Sprintf("call %d made", call), 10*time.Second, func(string) bool {
			return strings.Count(strings.ToLower(k.text("#followup-calls")), "spoke") == call
		})
		browsertest.Screenshot(t, k.tab, fmt.Sprintf("keyboard-helpline-call-%d", call))
	}
	calls := k.text("#followup-calls")
	if n := strings.Count(calls, "not yet made"); n != 2 {
		t.Errorf("after two calls the table reads %q: want calls 3 and 4 not yet made", calls)
	}
	t.Logf("the helpline's journey took %d key presses", k.presses)
}
