package console

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// The episode page says when a stored message of the episode could not be
// read, so nobody takes its timeline for the whole story.
func TestEpisodePageSaysWhenAStoredMessageCouldNotBeRead(t *testing.T) {
	pages, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	render := func(v episode.View) string {
		var b bytes.Buffer
		p := page{Title: "Episode", Now: time.Now(), Session: session{Agency: events.Police, Name: "PC Lowe"},
			Data: episodeData{V: v}}
		if err := pages["episode"].ExecuteTemplate(&b, "content", p); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	v := episode.New("5b0f9d4e-8a51-4c4e-9d0e-2f1c3a7b6e01")
	if html := render(v); strings.Contains(html, `id="unreadable"`) {
		t.Fatal("the page warns of unreadable messages when there are none")
	}
	v.MarkUnreadable(events.Unreadable{Seq: 14, Agency: events.Police, Episode: v.Episode, Reason: "not valid JSON"})
	html := render(v)
	if !strings.Contains(html, "1 stored message(s) on this episode could not be read (#14 from Police") {
		t.Fatalf("the page does not say that message 14 could not be read:\n%s", html)
	}
}
