package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
)

// An episode whose facts outgrow one message of the bus (150 notes of
// 32 KB, published straight to the bus) cannot be sent whole. Its page
// says so in words, and what to do, at once: not "reload to try again",
// which would never help.
func TestAnEpisodeTooLargeToShowSaysWhatToDo(t *testing.T) {
	sys, err := system.Start(t.Context(), system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger(),
		Only: []string{"episode-record", "spoa", "console"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	spoa, err := sys.Connect(events.SPoA)
	if err != nil {
		t.Fatal(err)
	}
	base := sys.PageURL("console")
	ep := events.NewEpisodeID()
	at := time.Date(2026, 11, 20, 23, 0, 0, 0, time.UTC)
	publish := func(data any) {
		at = at.Add(time.Minute)
		e, err := events.New(events.SPoA, ep, data, events.At(at))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := spoa.Publish(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	publish(&events.EpisodeOpened{Channel: "111", Summary: "caller in crisis"})
	text := strings.Repeat("\U0001F600", 4000) // 16,000 bytes
	for range 150 {
		publish(&events.TriageAdviceGiven{Advice: text, HealthHistory: text, RecommendedAction: "refer_spoa"})
	}
	clinician := newAttacker(t, base, "")
	if code, body := clinician.try("spoa.clinician", "crisisbus-spoa"); code != http.StatusSeeOther {
		t.Fatalf("signing in: %d %s", code, body)
	}
	start := time.Now()
	code, page := fetch(t, clinician.client, base+"/episodes/"+ep)
	if code != http.StatusConflict || !strings.Contains(page, "This episode has grown too large to show whole") ||
		!strings.Contains(page, "Record what comes next on a new episode for the person, and link it to this one") {
		t.Fatalf("the episode's page after %s: %d %.300s", time.Since(start).Round(time.Millisecond), code, page)
	}
}
