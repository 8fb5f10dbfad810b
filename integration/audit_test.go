package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
)

// The control room's worklist, read again and again as the console's page
// refreshes itself, is on the person's record of who saw what: once per
// reader and purpose, with how often (identical reads within 15 minutes
// are one disclosure), naming what the list showed.
func TestAWorklistReadIsOnTheRecordOfWhoViewedOncePerWindow(t *testing.T) {
	p := start(t)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler", Channel: "999", Summary: "woman on the cliff path at Dover", Location: "Dover",
		Person: &events.PersonIdentified{GivenName: "Ann", FamilyName: "Lowe", AgeYears: 52}}).Episode
	p.owner(ep, events.Police)

	read := func() record.WorklistResponse {
		return do[record.WorklistRequest, record.WorklistResponse](p, events.Record, "police.worklist", record.WorklistRequest{
			Viewer: "Call handler (police.handler)", Purpose: "direct care: call handler choosing what to work on from the worklist"})
	}
	list := read()
	if i := slices.IndexFunc(list.Items, func(it record.WorkItem) bool { return it.Episode == ep }); i < 0 || list.Items[i].Person != "Ann Lowe" {
		t.Fatalf("the control room's worklist %+v does not show Ann Lowe's episode", list.Items)
	}
	for range 50 { // the page refreshing itself
		read()
	}
	p.clock.Advance(15 * time.Minute)
	read()

	who := func() record.Disclosure {
		var got record.Disclosure
		bustest.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			ds := do[record.EpisodeRequest, record.DisclosuresResponse](p, events.Record, "disclosures", record.EpisodeRequest{Episode: ep})
			if len(ds.Disclosures) != 1 || ds.Disclosures[0].Count != 2 {
				return fmt.Errorf("who viewed: %+v, want the call handler twice (52 reads, two 15-minute windows)", ds.Disclosures)
			}
			got = ds.Disclosures[0]
			return nil
		})
		return got
	}
	d := who()
	if d.Viewer != "Call handler (police.handler)" || d.Agency != events.Police || !strings.HasPrefix(d.Purpose, "direct care") {
		t.Fatalf("who viewed: %+v", d)
	}
	for _, f := range []string{"worklist.person", "worklist.location", "worklist.owner", "worklist.episode"} {
		if !slices.Contains(d.Fields, f) {
			t.Fatalf("the disclosure names %v, not %s, which the worklist showed", d.Fields, f)
		}
	}
	if n := countDisclosed(p, ep); n != 2 {
		t.Fatalf("%d record.disclosed events stored for 52 identical reads in two windows, want 2", n)
	}
}

func countDisclosed(p *pathway, ep string) int {
	p.t.Helper()
	n := 0
	for _, e := range p.stored(ep) {
		if e.Type == "crisisbus.record.disclosed.v1" {
			n++
		}
	}
	return n
}
