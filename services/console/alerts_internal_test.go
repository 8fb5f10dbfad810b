package console

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// The episode page raises what the record found against the Act, with the
// section, the fact, who recorded it and the rule.
func TestEpisodePageRaisesFactsTheActForbids(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	render := func(v episode.View) string {
		var b bytes.Buffer
		p := page{Title: "Episode", Now: time.Now(), Session: session{Agency: events.AMHP, Name: "AMHP Leon"}, Data: episodeData{V: v}}
		if err := pages["episode"].ExecuteTemplate(&b, "content", p); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	v := episode.New("5b0f9d4e-8a51-4c4e-9d0e-2f1c3a7b6e01")
	if html := render(v); strings.Contains(html, `id="law-alerts"`) {
		t.Fatal("the page raises an alert when there is none")
	}
	v.Alerts = []episode.Alert{{EventID: "e1", Type: "place_of_safety.arrived", Agency: events.Police, Time: time.Date(2026, 11, 20, 23, 35, 0, 0, time.UTC),
		Section: "s136A(1)", Text: "s136A(1): a police station may never be used as a place of safety for a person under 18 (the person is 16)"}}
	html := render(v)
	for _, want := range []string{`id="law-alerts" role="alert"`, "<strong>s136A(1)</strong> place of safety.arrived recorded by Police control room",
		"a police station may never be used as a place of safety for a person under 18 (the person is 16)"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not show %q:\n%s", want, html)
		}
	}
}
