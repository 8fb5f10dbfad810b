package integration

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
)

// A person who has just recorded something sees it on the next read, even
// though the record's projection follows the stream a moment behind.
func TestAViewAfterACommandShowsWhatTheCommandRecorded(t *testing.T) {
	p := start(t)
	pc := "call handler 1123"
	for range 20 {
		ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{Actor: pc, Channel: "999", Summary: "man on the bridge"}).Episode
		rec := do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, pc),
			TriageRequested: events.TriageRequested{CallerAccount: "he says he has had enough", Concern: "known to services?"}})
		last := rec.Events[len(rec.Events)-1]
		v := do[record.ViewRequest, record.ViewResponse](p, events.Record, "police.view", record.ViewRequest{Episode: ep, Viewer: pc, Purpose: "the call", After: last})
		var view struct {
			Timeline []struct {
				EventID string `json:"eventId"`
			} `json:"timeline"`
		}
		if err := json.Unmarshal(v.View, &view); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range view.Timeline {
			ids = append(ids, e.EventID)
		}
		if !slices.Contains(ids, last) {
			t.Fatalf("the view read right after the triage request lacks it: %v", ids)
		}
	}
}
