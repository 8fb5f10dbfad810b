package console_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/console"
)

// The agencies a person may offer an episode to are the pathway's, named
// as the agency table names them: the page's field is AgencySelect (built
// from the table), or, while its template still writes the list out, that
// list is the table's (this fails when the two part).
func TestTheOfferFormListsThePathwayAgenciesByTheirNames(t *testing.T) {
	raw, err := os.ReadFile("web/page_episode.html")
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`\(\$p\.AgencySelect "offer" "to" `).Match(raw) {
		return
	}
	line := regexp.MustCompile(`\(\$p\.Select "offer" "to" "To" "" ((?:"[^"]*" ?)+)\)`).FindSubmatch(raw)
	if line == nil {
		t.Fatal(`web/page_episode.html has no ($p.Select "offer" "to" ...) field`)
	}
	var got []string
	for _, o := range regexp.MustCompile(`"([^"]*)"`).FindAllSubmatch(line[1], -1) {
		got = append(got, string(o[1]))
	}
	var want []string
	for _, a := range events.Agencies {
		want = append(want, string(a)+"|"+a.Title())
	}
	if !slices.Equal(got, want) {
		t.Errorf("the offer form lists %q; the agency table has %q", got, want)
	}
}

// Every kind of handoff the contract knows (schemas/v1/common.json) can be
// asked for from the offer form.
func TestTheOfferFormListsEveryHandoffKind(t *testing.T) {
	raw, err := os.ReadFile("web/page_episode.html")
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`\(\$p\.Select "offer" "kind" [^)]*\)`).Find(raw)
	if line == nil {
		t.Fatal(`web/page_episode.html has no ($p.Select "offer" "kind" ...) field`)
	}
	common, err := os.ReadFile("../../schemas/v1/common.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs struct {
			HandoffKind struct{ Enum []string } `json:"handoffKind"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(common, &doc); err != nil || len(doc.Defs.HandoffKind.Enum) == 0 {
		t.Fatalf("schemas/v1/common.json lists no handoff kinds: %v", err)
	}
	for _, k := range doc.Defs.HandoffKind.Enum {
		if !strings.Contains(string(line), `"`+k+`|`) {
			t.Errorf("the offer form's kinds (%s) lack %s", line, k)
		}
	}
}

// The demo people the README lists are those the console has: the agency
// table's, with their passwords.
func TestTheREADMEListsTheDemoPeople(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(raw), "| username | password | who |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README.md has no table of demo people")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	rows := strings.Split(strings.TrimSpace(table), "\n")
	demo := console.DemoUsers()
	if len(rows) != len(demo) {
		t.Errorf("the README lists %d demo people, the console has %d", len(rows), len(demo))
	}
	for i, d := range demo {
		want := "| `" + d.Username + "` | `" + d.Password + "` | " + d.Role + ", " + d.Agency.Title() + " |"
		if i >= len(rows) || rows[i] != want {
			t.Errorf("README demo row %d: want %s", i+1, want)
		}
	}
}
