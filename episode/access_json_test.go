package episode_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// longNight is the night's episode with n police triage requests more: the
// size of episode a command is decided on at volume.
func longNight(t testing.TB, n int) episode.View {
	ep := events.NewEpisodeID()
	v := episode.New(ep)
	t.Helper()
	evs := night(t, ep)
	for i := range n {
		evs = append(evs, fact(t, events.Police, ep, &events.TriageRequested{CallerAccount: fmt.Sprintf("officer %d", i), Concern: "still on the bridge <&>"}))
	}
	for _, e := range evs {
		if _, err := v.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// The document the record sends an agency's service holds exactly the
// allowlisted fields of the whole view, with the same values, and lists
// them: for every agency, police without the clinical field.
func TestAnAgencysStateDocumentIsTheAllowlistedView(t *testing.T) {
	// A long night, and an episode with nothing recorded yet: every field
	// left out of the whole view's JSON (empty, zero) is left out of the
	// document too.
	for _, v := range []episode.View{longNight(t, 43), episode.New(events.NewEpisodeID())} {
		checkStateDocument(t, v)
	}
	if _, _, err := episode.ForAgencyJSON(longNight(t, 1), events.Clock); err == nil {
		t.Fatal("the clock service was given a view of the record")
	}
}

func checkStateDocument(t *testing.T, v episode.View) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var whole map[string]any
	if err := json.Unmarshal(raw, &whole); err != nil {
		t.Fatal(err)
	}
	for _, a := range events.Agencies {
		allowed, _ := episode.Allowlist(a)
		want := map[string]any{}
		for k, val := range whole {
			if slices.Contains(allowed, k) {
				want[k] = val
			}
		}
		doc, fields, err := episode.ForAgencyJSON(v, a)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(doc, &got); err != nil {
			t.Fatalf("%s: the document is not JSON: %v", a, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the document differs from the allowlisted view", a)
		}
		if !slices.Equal(fields, episode.FieldNames(want, "")) {
			t.Errorf("%s: fields %v, want %v", a, fields, episode.FieldNames(want, ""))
		}
		if _, clinical := got["clinical"]; clinical != a.Health() {
			t.Errorf("%s: clinical field shown %v, a health agency %v", a, clinical, a.Health())
		}
	}
}

// BenchmarkForAgency is the record's cost to give the police service the
// state of a 50-fact episode: through generic values (ForAgency, then
// encoding the map), and as the document (ForAgencyJSON, what the record
// sends).
func BenchmarkForAgency(b *testing.B) {
	v := longNight(b, 43)
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, _, err := episode.ForAgency(v, events.Police)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("document", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := episode.ForAgencyJSON(v, events.Police); err != nil {
				b.Fatal(err)
			}
		}
	})
}
