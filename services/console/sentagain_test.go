package console_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// Mid-call the handler's click on "Raise the triage request" goes twice
// (a double click, a browser sending again on a slow line): the person is
// one episode with one triage request, and both sendings land on it. Sent
// again later (back, and send), it is still one, and the page says so.
func TestATriageFormSentTwiceOpensOneEpisode(t *testing.T) {
	base := startSystem(t)
	browser := browsertest.New(t)
	handler := signIn(t, browser, base, "police.handler", "crisisbus-police")
	handler.do("fill in the triage request",
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(chromedp.CSS(`form[action="/new/triage"]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('details:has(form[action="/new/triage"])').open = true`),
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Bus driver says a woman is standing in the road on the A2 at Dartford, waving at cars"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "A2 eastbound, Dartford Heath"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is she known? Street triage or s136?"),
		chromedp.SendKeys(chromedp.CSS("#triage-givenName"), "Leah"),
	)
	request := browsertest.Get(t, handler.tab, "the form's request id", chromedp.Value(chromedp.CSS(`form[action="/new/triage"] input[name=request]`)))
	// The form as the browser sends it, twice at once; where each sending
	// ends (the page the console sends the browser to).
	send := `(function(n){const f=document.querySelector('form[action="/new/triage"]');
		const body=new URLSearchParams(new FormData(f)).toString();
		const one=()=>fetch(f.action,{method:'POST',body:body,headers:{'Content-Type':'application/x-www-form-urlencoded'}}).then(r=>r.url);
		return Promise.all(Array.from({length:n},one)).then(JSON.stringify);})`
	ends := func(what string, n int) []string {
		t.Helper()
		raw := browsertest.Get(t, handler.tab, what, chromedp.Evaluate[string](send+`(`+string(rune('0'+n))+`)`, chromedp.EvalAwaitPromise))
		var urls []string
		if err := json.Unmarshal([]byte(raw), &urls); err != nil {
			t.Fatalf("%s: %v (%s)", what, err, raw)
		}
		return urls
	}
	twice := ends("send the form twice at once", 2)
	for i := range twice {
		twice[i], _, _ = strings.Cut(twice[i], "?") // the page waits for what that sending recorded
	}
	if len(twice) != 2 || twice[0] != twice[1] || !strings.Contains(twice[0], "/episodes/") {
		t.Fatalf("the form sent twice at once ended at %v; want the same episode both times", twice)
	}
	again := ends("send the form again", 1)
	if again[0] != twice[0] { // nothing recorded, nothing to wait for
		t.Fatalf("the form sent again ended at %s; want the episode it opened, %s", again[0], twice[0])
	}

	handler.do("open the episode", chromedp.Navigate(twice[0]))
	if n := strings.Count(handler.text("main"), "Triage advice requested: Is she known?"); n != 1 {
		browsertest.Screenshot(t, handler.tab, "FAILED-sent-twice")
		t.Fatalf("the episode shows the triage request %d times, want once", n)
	}
	handler.do("back to the list", chromedp.Navigate(base+"/"))
	if n := strings.Count(handler.text("main"), "Leah"); n != 1 {
		t.Errorf("the control room's list shows Leah %d times, want one card", n)
	}

	// Sent again by the browser itself (back to the form as it was, and
	// send): the page says it was sent already.
	handler.do("fill the form in again as it was, and send it",
		chromedp.Evaluate[chromedp.Void](`document.querySelector('details:has(form[action="/new/triage"])').open = true`),
		chromedp.SendKeys(chromedp.CSS("#triage-callerAccount"), "Bus driver says a woman is standing in the road on the A2 at Dartford, waving at cars"),
		chromedp.SendKeys(chromedp.CSS("#triage-location"), "A2 eastbound, Dartford Heath"),
		chromedp.SendKeys(chromedp.CSS("#triage-concern"), "Is she known? Street triage or s136?"),
		chromedp.SetValue(chromedp.CSS(`form[action="/new/triage"] input[name=request]`), request),
		chromedp.Click(chromedp.CSS(`form[action="/new/triage"] button`)),
	)
	handler.flash("This form was sent already")
	if at := browsertest.Get(t, handler.tab, "url", chromedp.Location()); !strings.HasPrefix(at, twice[0]) {
		t.Errorf("the form sent again shows %s, want the episode it opened, %s", at, twice[0])
	}
	browsertest.Screenshot(t, handler.tab, "triage-sent-again")
}
