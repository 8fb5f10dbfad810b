package console_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/browsertest"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
)

// startSystemAtWithSend runs all of crisisbus with its clock at the given
// London time of today, running on from there, and returns the console's
// URL and a send function for the agencies' commands.
func startSystemAtWithSend(t *testing.T, hh, mm int) (string, func(a events.Agency, command string, req, resp any)) {
	t.Helper()
	real := time.Now()
	l := real.In(places.London)
	offset := time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, places.London).Sub(real)
	return startSystemOn(t, func() time.Time { return time.Now().Add(offset) })
}

// 20:00. Marta, who reads Polish and asked for easy read, is going home
// with follow-up calls from the helpline. The helpline worker gives her a
// note of what happens next: in easy read, who will phone and when, 111
// and its mental health option with an interpreter, the safe haven open
// tonight near Chatham; what was agreed is added; it is read out and
// printed, and the episode records that it was given. Dev, who uses BSL,
// gets the BSL routes to 111 and 999. Only the agency holding an episode
// gives the note.
func TestTheOwnerGivesThePersonAPlainNoteOfWhatHappensNext(t *testing.T) {
	base, send := startSystemAtWithSend(t, 20, 0)
	browser := browsertest.New(t)

	var marta agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hughes", Channel: "999", Summary: "Woman crying at the bus station",
		Location: "Pentagon bus station, Chatham", Person: &events.PersonIdentified{GivenName: "Marta", AgeYears: 34},
		Voice: &events.PersonVoiceRecorded{OwnWords: "I want to go home to my sister", CommunicationNeeds: []string{"interpreter", "easy_read"}, Language: "Polish"}}, &marta)
	var offer agency.OfferResponse
	send(events.Police, "handoff.offer", agency.OfferRequest{Base: agency.Base{Episode: marta.Episode, Actor: "PC 4471 Hughes"}, Kind: events.FollowUp,
		To: events.Crisisline, Reason: "going home; follow-up calls", Urgency: "urgent"}, &offer)
	send(events.Crisisline, "handoff.accept", agency.HandoffRequest{Base: agency.Base{Episode: marta.Episode, Actor: "Sam Patel"}, HandoffID: offer.HandoffID}, nil)

	var dev agency.OpenResponse
	send(events.Police, "open", agency.OpenRequest{Actor: "PC 4471 Hughes", Channel: "999", Summary: "Man distressed outside the station",
		Location: "Maidstone East station", Person: &events.PersonIdentified{GivenName: "Dev", AgeYears: 40},
		Voice: &events.PersonVoiceRecorded{OwnWords: "I sign; please text me", CommunicationNeeds: []string{"bsl"}}}, &dev)

	helpline := signIn(t, browser, base, "helpline.worker", "crisisbus-crisisline")
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		helpline.do("prepare Marta's note", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/episodes/"+marta.Episode),
			chromedp.Click(chromedp.CSS("#note-prepare")), chromedp.WaitVisible(chromedp.CSS("#note")))
		n := helpline.text("#note")
		for _, want := range []string{"What happens next, Marta", "The Crisis and follow-up helpline will phone you on", "Phone 111", "mental health",
			"Say Polish", "Gillingham Safe Haven", "open now, until 23:00", "999"} {
			if !strings.Contains(n, want) {
				t.Errorf("%s: Marta's note does not say %q:\n%s", w, want, n)
			}
		}
		if helpline.count(".note--easy-read") != 1 {
			t.Errorf("%s: Marta asked for easy read; the note is not in easy read", w)
		}
		if strings.Contains(n, "signvideo") {
			t.Errorf("%s: Marta's note gives the BSL routes, which she did not ask for", w)
		}
		bustest.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
			if helpline.count("[data-print]:not([hidden])") != 1 {
				return fmt.Errorf("%s: no button to print the note", w)
			}
			return nil
		})
		helpline.noSideways(w + " note")
		browsertest.Screenshot(t, helpline.tab, "note-easy-read-"+w)
	}

	// What was agreed goes on the note; it is read out and printed, and
	// that is recorded.
	helpline.do("add what was agreed", chromedp.Click(chromedp.CSS("#note-change > summary")),
		chromedp.SendKeys(chromedp.CSS("#note-agreed"), "You will stay with your sister in Gillingham tonight."),
		chromedp.Click(chromedp.CSS(`form[action$="/note/preview"] button`)))
	helpline.waitFor("what was agreed on the note", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "We agreed") && strings.Contains(main, "You will stay with your sister in Gillingham tonight.")
	})
	helpline.do("record that it was given", choose("#note-how", "read_out_and_printed"), chromedp.Click(chromedp.CSS(`#note-given button`)))
	helpline.flash("Marta was given the note of what happens next")
	helpline.waitFor("the note in the timeline", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Gave them a note of what happens next (easy read, read out and printed)")
	})
	if given := helpline.text("#note-for-person"); !strings.Contains(given, "Given today") {
		t.Errorf("the episode does not say the note was given: %q", given)
	}
	browsertest.Screenshot(t, helpline.tab, "note-given-phone") // at 390 px: the loop above ended there

	// Without saying how it was given, nothing is recorded, and the form says so.
	helpline.do("record without saying how", chromedp.Navigate(base+"/episodes/"+marta.Episode+"/note"), chromedp.Click(chromedp.CSS(`#note-given button`)),
		chromedp.WaitVisible(chromedp.CSS("#note-how-error")))
	if msg := helpline.text("#note-how-error"); !strings.Contains(msg, "Choose how you gave the note") {
		t.Errorf("recording the note without how says %q", msg)
	}

	// Dev's note, from the control room that holds his episode: the BSL routes.
	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	for _, width := range []int64{1280, 390} {
		w := map[int64]string{1280: "desk", 390: "phone"}[width]
		handler.do("prepare Dev's note", chromedp.EmulateViewport(width, 900), chromedp.Navigate(base+"/episodes/"+dev.Episode+"/note"), chromedp.WaitVisible(chromedp.CSS("#note")))
		n := handler.text("#note")
		for _, want := range []string{"signvideo.co.uk/nhs111", "18001 111", "999bsl.co.uk", "NHS 111", "mental health option", "Maidstone Safe Haven"} {
			if !strings.Contains(n, want) {
				t.Errorf("%s: Dev's note does not say %q:\n%s", w, want, n)
			}
		}
		handler.noSideways(w + " BSL note")
		browsertest.Screenshot(t, handler.tab, "note-bsl-"+w)
	}
	// At the desk, the call handler reads Dev's note out (through the BSL
	// interpreter), and records it.
	handler.do("record Dev's note as given, at the desk", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/episodes/"+dev.Episode+"/note"),
		chromedp.WaitVisible(chromedp.CSS("#note-given")), choose("#note-how", "read_out"), chromedp.Click(chromedp.CSS(`#note-given button`)))
	handler.flash("Dev was given the note of what happens next")
	handler.waitFor("Dev's note in the timeline", 10*time.Second, func(main string) bool {
		return strings.Contains(main, "Gave them a note of what happens next (with the BSL routes, read out)")
	})
	if given := handler.text("#note-for-person"); !strings.Contains(given, "Given today") {
		t.Errorf("at the desk, the episode does not say the note was given: %q", given)
	}
	handler.noSideways("desk, note given")
	browsertest.Screenshot(t, handler.tab, "note-given-desk")
	// The control room no longer holds Marta's episode: it gives no note.
	handler.do("try Marta's note", chromedp.Navigate(base+"/episodes/"+marta.Episode+"/note"), chromedp.WaitReady(chromedp.CSS("body")))
	if body := handler.text("body"); !strings.Contains(body, "Only the agency holding the episode gives the person the note") {
		t.Errorf("the control room opened the note of an episode it handed on: %q", body)
	}
}
