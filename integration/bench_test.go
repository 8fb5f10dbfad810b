package integration

import (
	"testing"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
)

// How long one command takes end to end (request, replay of the episode,
// checks, optimistic publish fsynced to disk, reply), on an episode that
// grows by one fact per command.
func BenchmarkPoliceCommandRoundTrip(b *testing.B) {
	p := start(b)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{Actor: "bench", Channel: "999", Summary: "bench"}).Episode
	b.ResetTimer()
	for b.Loop() {
		do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, "bench"),
			TriageRequested: events.TriageRequested{CallerAccount: "bench", Concern: "bench"}})
	}
}

// How long one agency's view takes to serve (read the projection, filter
// by the allowlist, store the disclosure, reply) for a 40-fact episode.
func BenchmarkRecordViewForPolice(b *testing.B) {
	p := start(b)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{Actor: "bench", Channel: "999", Summary: "bench"}).Episode
	for range 39 {
		do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, "bench"),
			TriageRequested: events.TriageRequested{CallerAccount: "bench", Concern: "bench"}})
	}
	p.record(ep, func(v episode.View) error { return p.caughtUp(ep)(v) })
	b.ResetTimer()
	for b.Loop() {
		p.view(ep, events.Police, "bench")
	}
}

// How long a triage request takes to open when the call handler already
// knows who the person is and has their own words: three facts (the
// episode opened, the person identified, their voice), stored all or none
// as one batch.
func BenchmarkOpenWithWhoThePersonIs(b *testing.B) {
	p := start(b)
	b.ResetTimer()
	for b.Loop() {
		do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{Actor: "bench", Channel: "999", Summary: "bench",
			Person: &events.PersonIdentified{GivenName: "Sam", AgeYears: 30},
			Voice:  &events.PersonVoiceRecorded{OwnWords: "I just need someone to listen"}})
	}
}
