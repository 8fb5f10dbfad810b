package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/reports"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/safehaven"
)

// set puts the pathway's clock at hh:mm London time on Friday 20 November 2026.
func (c *clock) set(hh, mm int) {
	c.mu.Lock()
	c.now = time.Date(2026, 11, 20, hh, mm, 0, 0, places.London).UTC()
	c.mu.Unlock()
}

const havenWorker = "Robin Hale (Safe haven support worker)"

// Friday, 21:00. Officers find a man sitting on Ramsgate harbour wall. The
// control room's mental health worker (street triage) advises that he does
// not need detaining but somewhere calm with someone to talk to: the Thanet
// Safe Haven in Margate, open until 23:00. The officers take him there
// instead of detaining him under s136. The haven sees what the officers
// and he said, the risks and his legal status (none), never the street
// triage nurse's clinical notes; it records the visit, and he goes home
// with his brother. Police see how it ended.
func TestOfficersTakeAManFromRamsgateHarbourToTheMargateHavenInsteadOfDetainingHim(t *testing.T) {
	p := start(t)
	p.clock.set(21, 0)
	const ownWords = "I don't want to go to a cell. I just need to talk to someone tonight."
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "PC 4410 Okafor", Channel: "999", Summary: "man sitting on the harbour wall with his legs over the edge, says he can't go on",
		Location: "Ramsgate harbour wall",
		Person:   &events.PersonIdentified{GivenName: "Dan", FamilyName: "Kerr", AgeYears: 44},
		Voice:    &events.PersonVoiceRecorded{OwnWords: ownWords, WhoToContact: "my brother Joe, 07700 900123"},
	}).Episode
	do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, "PC 4410 Okafor"),
		TriageRequested: events.TriageRequested{CallerAccount: "officers on scene", Concern: "talking about the water; calmer with officers", Risk: "high"}})
	const history = "Known to the Thanet CMHT; two previous crisis presentations this year"
	const nurseNotes = "Low mood after losing his job; no plan tonight; protective factor: his brother"
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: base(ep, "street triage nurse Kemi"),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "no need to detain; somewhere calm with someone to talk to", KnownToServices: true,
			HealthHistory: history, RecommendedAction: "safe_haven"}})
	do[agency.StreetOutcomeRequest, agency.Receipt](p, events.SPoA, "street_triage.outcome", agency.StreetOutcomeRequest{Base: base(ep, "street triage nurse Kemi"),
		StreetTriageOutcome: events.StreetTriageOutcome{S136Avoided: true, Outcome: "safe_haven", Notes: nurseNotes}})

	p.clock.Advance(20 * time.Minute)
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4410 Okafor"),
		Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "street triage advise the Margate haven instead of s136; we are bringing him", Urgency: "urgent"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SafeHaven, "handoff.accept", agency.HandoffRequest{Base: base(ep, havenWorker), HandoffID: offer.HandoffID})
	p.owner(ep, events.SafeHaven)
	if n := p.continuity(ep, offer.HandoffID); n != offer.FactsCarried || n < 6 {
		t.Fatalf("the referral carried %d facts, %d were recorded before it", offer.FactsCarried, n)
	}
	// What travelled: his own words first, who to contact, the risks, his
	// legal status; nothing clinical.
	summary := offerSummary(t, p, ep, offer.HandoffID)
	if summary.OwnWords != ownWords || summary.Person["whoToContact"] == nil || len(summary.Risks) == 0 {
		t.Fatalf("the referral's summary: own words %q, person %v, risks %v", summary.OwnWords, summary.Person, summary.Risks)
	}
	if raw, _ := json.Marshal(summary); strings.Contains(string(raw), history) || strings.Contains(string(raw), nurseNotes) {
		t.Fatal("the referral to the haven carries clinical text")
	}

	p.clock.Advance(20 * time.Minute)
	do[safehaven.ArriveRequest, agency.Receipt](p, events.SafeHaven, "visit.arrive", safehaven.ArriveRequest{Base: base(ep, havenWorker), Haven: "haven-margate"})
	const plan = "Stay at Joe's tonight, see my GP on Monday, and ring the crisis line if the thoughts come back"
	do[safehaven.SupportRequest, agency.Receipt](p, events.SafeHaven, "visit.support", safehaven.SupportRequest{Base: base(ep, havenWorker),
		HavenSupportGiven: events.HavenSupportGiven{Support: []string{"de_escalation", "emotional_support"}, Plan: plan}})
	p.clock.Advance(70 * time.Minute)
	do[safehaven.LeaveRequest, agency.Receipt](p, events.SafeHaven, "visit.leave", safehaven.LeaveRequest{Base: base(ep, havenWorker),
		Outcome: safehaven.WentHome, Detail: "his brother Joe collected him", CloseEpisode: true})

	full := p.record(ep, func(v episode.View) error {
		if err := p.caughtUp(ep)(v); err != nil {
			return err
		}
		if !v.Closed {
			return fmt.Errorf("episode not closed")
		}
		return nil
	})
	if full.S136 != nil || full.LegalStatus != "" {
		t.Fatalf("no s136 should be on the episode: s136 %+v, legal status %q", full.S136, full.LegalStatus)
	}
	h := full.Haven
	if h == nil || h.Haven != "haven-margate" || h.How != safehaven.BroughtByPolice || !h.Taken || h.Outcome != safehaven.WentHome || h.Plan != plan ||
		!slices.Equal(h.Support, []string{"de_escalation", "emotional_support", "plan_made"}) {
		t.Fatalf("the visit as recorded: %+v", h)
	}
	if ho := full.Handoff(offer.HandoffID); ho.State != episode.Completed || !strings.Contains(ho.Outcome, "went home: his brother Joe collected him") {
		t.Fatalf("police's referral: %+v, want completed with how the visit ended", ho)
	}
	if len(full.Clinical) != 2 {
		t.Fatalf("%d clinical notes recorded, want the health history and the nurse's notes", len(full.Clinical))
	}

	raw, hv := p.view(ep, events.SafeHaven, havenWorker)
	if leaks := episode.ClinicalLeaks(raw, full); len(leaks) > 0 {
		t.Fatalf("the haven's view leaks clinical content: %v", leaks)
	}
	if hv.OwnWords != ownWords || hv.WhoToContact == "" || len(hv.Risks) == 0 || !hasText(hv.Timeline, "Triage advice: no need to detain") {
		t.Fatalf("the haven's view lacks what it needs: own words %q, contact %q, risks %v", hv.OwnWords, hv.WhoToContact, hv.Risks)
	}
	_, pv := p.view(ep, events.Police, "PC 4410 Okafor")
	if pv.Haven == nil || pv.Haven.Outcome != safehaven.WentHome || !hasText(pv.Timeline, "Arrived at Thanet Safe Haven (Margate) at 21:40 Fri 20 Nov (brought by police)") {
		t.Fatalf("police do not see how it ended: %+v", pv.Haven)
	}

	// The partnership's report counts one police contact, in November,
	// ended at a haven instead of an s136 (street triage advised it, but the
	// haven is where it ended).
	proj, err := reports.Rebuild(context.Background(), p.admin)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := proj.Report("contacts", reports.Range{From: reports.MonthFor(2026, time.November), To: reports.MonthFor(2026, time.November)})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	reports.Write(&b, tab, "csv")
	want := `How the police contact ended,2026-11,Grand Total
Detained under s136,0,0
"Taken to a safe haven, no s136",1,1
"Street triage advised, s136 avoided",0,0
Other,0,0
Grand Total,1,1
Safe haven or street triage instead of s136,100.0%,100.0%
`
	if b.String() != want {
		t.Errorf("the police contacts report:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Friday, 19:00. A 16-year-old walks into the Margate haven. The havens are
// for adults: she is told so in words, with where she can go now for her
// age, nearest first; the visit is recorded as not taken, with that reason.
func TestA16YearOldWhoWalksInIsToldTheHavenIsFor18AndOverAndWhereToGo(t *testing.T) {
	p := start(t)
	p.clock.set(19, 0)
	walk := do[safehaven.WalkInRequest, agency.OpenResponse](p, events.SafeHaven, "walkin", safehaven.WalkInRequest{
		Actor: havenWorker, Haven: "haven-margate", Summary: "came in on her own, upset after a row at home",
		Person: &events.PersonIdentified{GivenName: "Mia", FamilyName: "Doyle", AgeYears: 16},
		Voice:  &events.PersonVoiceRecorded{OwnWords: "I can't go home tonight."},
	})
	ep := walk.Episode
	v := p.record(ep, p.caughtUp(ep))
	if v.OpenedBy != events.SafeHaven || v.Channel != "walk_in" || v.Owner != events.SafeHaven {
		t.Fatalf("the walk-in opened %+v", v)
	}
	h := v.Haven
	if h == nil || h.Taken || h.How != safehaven.WalkedIn {
		t.Fatalf("the visit as recorded: %+v, want walked in and not taken", h)
	}
	t.Logf("she was told: %s", h.NotTakenReason)
	for _, want := range []string{"Thanet Safe Haven is for people aged 18 and over, and the person is 16",
		"Where they can go now:", "Medway Maritime Hospital: liaison psychiatry (Gillingham", "open day and night",
		"children and young people's liaison", "Kent and Medway Mental Health Crisis Line"} {
		if !strings.Contains(h.NotTakenReason, want) {
			t.Errorf("the reason does not say %q", want)
		}
	}
	where := h.NotTakenReason[strings.Index(h.NotTakenReason, "Where they can go now:"):]
	if strings.Contains(where, "Safe Haven") || strings.Contains(where, "crisis café") || strings.Contains(where, "adult liaison") {
		t.Errorf("she is sent somewhere not for her age: %s", where)
	}
	if !hasText(v.Timeline, "not taken in: Thanet Safe Haven is for people aged 18 and over") {
		t.Fatalf("the timeline does not say she was not taken: %v", v.Timeline)
	}
	// Not taken in, so there is no visit to record support for.
	refused(p, events.SafeHaven, "visit.support", safehaven.SupportRequest{Base: base(ep, havenWorker),
		HavenSupportGiven: events.HavenSupportGiven{Support: []string{"emotional_support"}}}, 409, "not at the safe haven")
	do[agency.CloseRequest, agency.Receipt](p, events.SafeHaven, "close", agency.CloseRequest{Base: base(ep, havenWorker),
		Reason: "not for her age: her mum collected her to go to Medway Maritime Hospital"})
	p.record(ep, func(v episode.View) error {
		if !v.Closed {
			return fmt.Errorf("not closed")
		}
		return nil
	})
}

// A referral the havens cannot take is declined by the haven's inbox at
// once, the referring service keeping the episode: at 23:30 the havens are
// closed and the reason names the next opening; at 22:45 the nearest haven
// closes in 15 minutes; a 15-year-old is directed where to go for their age.
func TestAReferralAt2330IsDeclinedAsClosedWithTheNextOpening(t *testing.T) {
	p := start(t)
	declined := func(ep, handoff string) *episode.Handoff {
		t.Helper()
		v := p.record(ep, func(v episode.View) error {
			if h := v.Handoff(handoff); h == nil || h.State != episode.Declined {
				return fmt.Errorf("handoff %s is %+v, want declined", handoff, h)
			}
			return nil
		})
		if v.Owner == events.SafeHaven {
			t.Fatal("the haven owns a referral it declined")
		}
		return v.Handoff(handoff)
	}
	refer := func(from events.Agency, location string, person *events.PersonIdentified) (string, string) {
		t.Helper()
		ep := do[agency.OpenRequest, agency.OpenResponse](p, from, "open", agency.OpenRequest{Actor: "duty worker", Channel: "referral",
			Summary: "wants somewhere to go tonight", Location: location, Person: person}).Episode
		offer := do[agency.OfferRequest, agency.OfferResponse](p, from, "handoff.offer", agency.OfferRequest{Base: base(ep, "duty worker"),
			Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "would benefit from the haven tonight", Urgency: "urgent"})
		return ep, offer.HandoffID
	}

	p.clock.set(23, 30)
	ep, id := refer(events.SPoA, "Canterbury, St Dunstan's", nil)
	h := declined(ep, id)
	if h.DeclineReason != "no_capacity" || h.DeclineDetail != "Canterbury Safe Haven (Canterbury): closed at this hour; it opens tomorrow 18:00. "+
		"Thanet Safe Haven (Margate): closed at this hour; it opens tomorrow 18:00" {
		t.Fatalf("declined with %q: %q", h.DeclineReason, h.DeclineDetail)
	}
	p.owner(ep, events.SPoA)

	p.clock.set(22, 45)
	ep, id = refer(events.Crisisline, "caller at home in Gillingham", nil)
	if h := declined(ep, id); h.DeclineDetail != "Gillingham Safe Haven (Gillingham): closing at 23:00, in 15 minutes, too late to take a referral; it opens tomorrow 18:00. "+
		"Maidstone Safe Haven (Maidstone): closing at 23:00, in 15 minutes, too late to take a referral; it opens tomorrow 18:00" {
		t.Fatalf("declined with %q", h.DeclineDetail)
	}

	p.clock.set(20, 0)
	ep, id = refer(events.Ambulance, "Maidstone town centre", &events.PersonIdentified{GivenName: "Leo", FamilyName: "Grant", AgeYears: 15})
	if h := declined(ep, id); h.DeclineReason != "not_appropriate" || !strings.Contains(h.DeclineDetail, "Maidstone Safe Haven is for people aged 18 and over, and the person is 15") ||
		!strings.Contains(h.DeclineDetail, "Maidstone Hospital: children and young people's liaison") {
		t.Fatalf("declined with %q: %q", h.DeclineReason, h.DeclineDetail)
	}

	// At 20:00 an adult's referral is left for the haven's people to answer.
	ep, id = refer(events.Ambulance, "Maidstone town centre", &events.PersonIdentified{GivenName: "Ava", FamilyName: "Stone", AgeYears: 30})
	p.acknowledged(ep, id)
	do[agency.HandoffRequest, agency.Receipt](p, events.SafeHaven, "handoff.accept", agency.HandoffRequest{Base: base(ep, havenWorker), HandoffID: id})
	p.owner(ep, events.SafeHaven)
}

// The ambulance EOC refers a woman; the haven takes her in, then hands her
// on to SPoA with the record travelling: SPoA's referral carries the visit,
// and the ambulance service's referral is completed with how it ended.
func TestTheHavenHandsAPersonOnToSPoAWithTheVisitTravelling(t *testing.T) {
	p := start(t)
	p.clock.set(19, 30)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", agency.OpenRequest{Actor: "EOC MHW Priya", Channel: "999",
		Summary: "caller in distress at home, no physical injury", Location: "Gillingham"}).Episode
	refer := do[agency.OfferRequest, agency.OfferResponse](p, events.Ambulance, "handoff.offer", agency.OfferRequest{Base: base(ep, "EOC MHW Priya"),
		Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "hear and treat: the Gillingham haven tonight", Urgency: "routine"})
	p.acknowledged(ep, refer.HandoffID)
	// Not accepted yet: there is no visit to record.
	refused(p, events.SafeHaven, "visit.arrive", safehaven.ArriveRequest{Base: base(ep, havenWorker), Haven: "haven-gillingham"}, 409, "owns it")
	refused(p, events.SafeHaven, "visit.arrive", safehaven.ArriveRequest{Base: base(ep, havenWorker), Haven: "haven-ramsgate"}, 400, "not a safe haven of the directory")
	do[agency.HandoffRequest, agency.Receipt](p, events.SafeHaven, "handoff.accept", agency.HandoffRequest{Base: base(ep, havenWorker), HandoffID: refer.HandoffID})
	do[safehaven.ArriveRequest, agency.Receipt](p, events.SafeHaven, "visit.arrive", safehaven.ArriveRequest{Base: base(ep, havenWorker), Haven: "haven-gillingham"})
	do[safehaven.SupportRequest, agency.Receipt](p, events.SafeHaven, "visit.support", safehaven.SupportRequest{Base: base(ep, havenWorker),
		HavenSupportGiven: events.HavenSupportGiven{Support: []string{"peer_support"}}})
	refused(p, events.SafeHaven, "visit.handon", safehaven.HandOnRequest{Base: base(ep, havenWorker), To: events.Police, Reason: "x"}, 400, "spoa (a referral) or crisisline")
	on := do[safehaven.HandOnRequest, safehaven.HandOnResponse](p, events.SafeHaven, "visit.handon", safehaven.HandOnRequest{Base: base(ep, havenWorker),
		To: events.SPoA, Reason: "needs the crisis team tomorrow; agreed to a referral"})
	p.acknowledged(ep, on.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA clinician Ben"), HandoffID: on.HandoffID})
	p.owner(ep, events.SPoA)
	p.continuity(ep, on.HandoffID)
	v := p.record(ep, p.caughtUp(ep))
	if v.Haven == nil || v.Haven.How != safehaven.Referred || v.Haven.Outcome != safehaven.HandedOn || v.Haven.Detail != "to Single point of access" {
		t.Fatalf("the visit: %+v", v.Haven)
	}
	if h := v.Handoff(refer.HandoffID); h.State != episode.Completed || h.Outcome != "left the safe haven: handed on: to Single point of access" {
		t.Fatalf("the ambulance service's referral: %+v", h)
	}
	if h := v.Handoff(on.HandoffID); h.Kind != events.SPoAReferral || h.From != events.SafeHaven {
		t.Fatalf("the haven's referral: %+v", h)
	}
}

func hasText(tl []episode.Entry, s string) bool {
	return slices.ContainsFunc(tl, func(e episode.Entry) bool { return strings.Contains(e.Text, s) })
}

func offerSummary(t *testing.T, p *pathway, ep, handoff string) events.Summary {
	t.Helper()
	for _, e := range p.stored(ep) {
		var o events.HandoffOffered
		if e.DecodeInto(&o) == nil && o.HandoffID == handoff {
			return o.Summary
		}
	}
	t.Fatalf("no offer %s stored", handoff)
	return events.Summary{}
}

// The partnership's safe haven table (seed 002's monthly counts) comes from
// what the haven's people record: by haven and month, how people came and
// how their visits ended.
func TestTheSafeHavenReportCountsVisitsByHavenAndMonth(t *testing.T) {
	p := start(t)
	// Friday 20 November, Margate: a 16-year-old at 19:00, a man brought by
	// police who goes home, a woman who walks in and needs 999.
	p.clock.set(19, 0)
	do[safehaven.WalkInRequest, agency.OpenResponse](p, events.SafeHaven, "walkin", safehaven.WalkInRequest{
		Actor: havenWorker, Haven: "haven-margate", Summary: "upset after a row at home", AgeYears: 16})
	p.clock.set(21, 0)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{Actor: "PC 4410", Channel: "999",
		Summary: "man on the harbour wall", Location: "Ramsgate harbour"}).Episode
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4410"),
		Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "bringing him to the haven", Urgency: "urgent"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SafeHaven, "handoff.accept", agency.HandoffRequest{Base: base(ep, havenWorker), HandoffID: offer.HandoffID})
	do[safehaven.ArriveRequest, agency.Receipt](p, events.SafeHaven, "visit.arrive", safehaven.ArriveRequest{Base: base(ep, havenWorker), Haven: "haven-margate"})
	do[safehaven.LeaveRequest, agency.Receipt](p, events.SafeHaven, "visit.leave", safehaven.LeaveRequest{Base: base(ep, havenWorker), Outcome: safehaven.WentHome})
	walk := do[safehaven.WalkInRequest, agency.OpenResponse](p, events.SafeHaven, "walkin", safehaven.WalkInRequest{
		Actor: havenWorker, Haven: "haven-margate", Summary: "chest pains and panic", AgeYears: 52}).Episode
	do[safehaven.LeaveRequest, agency.Receipt](p, events.SafeHaven, "visit.leave", safehaven.LeaveRequest{Base: base(walk, havenWorker),
		Outcome: safehaven.Emergency999, Detail: "chest pains: ambulance called"})
	// Tuesday 1 December, Gillingham: the EOC refers a woman, who is handed
	// on to the crisis line's follow-up.
	p.clock.mu.Lock()
	p.clock.now = time.Date(2026, 12, 1, 20, 0, 0, 0, places.London)
	p.clock.mu.Unlock()
	ep = do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", agency.OpenRequest{Actor: "EOC MHW", Channel: "999",
		Summary: "caller in distress", Location: "Gillingham"}).Episode
	offer = do[agency.OfferRequest, agency.OfferResponse](p, events.Ambulance, "handoff.offer", agency.OfferRequest{Base: base(ep, "EOC MHW"),
		Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "the haven tonight", Urgency: "routine"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SafeHaven, "handoff.accept", agency.HandoffRequest{Base: base(ep, havenWorker), HandoffID: offer.HandoffID})
	do[safehaven.ArriveRequest, agency.Receipt](p, events.SafeHaven, "visit.arrive", safehaven.ArriveRequest{Base: base(ep, havenWorker), Haven: "haven-gillingham"})
	do[safehaven.HandOnRequest, safehaven.HandOnResponse](p, events.SafeHaven, "visit.handon", safehaven.HandOnRequest{Base: base(ep, havenWorker),
		To: events.Crisisline, Reason: "calls over the next days"})

	proj, err := reports.Rebuild(context.Background(), p.admin)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := proj.Report("havens", reports.Range{From: reports.MonthFor(2026, time.November), To: reports.MonthFor(2026, time.December)})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	reports.Write(&b, tab, "csv")
	want := `Safe haven,2026-11,2026-12,Grand Total
Gillingham Safe Haven (Gillingham): walked in,0,0,0
Gillingham Safe Haven (Gillingham): brought by police,0,0,0
Gillingham Safe Haven (Gillingham): referred,0,1,1
Gillingham Safe Haven (Gillingham): not taken in (not for their age),0,0,0
Gillingham Safe Haven (Gillingham): went home,0,0,0
Gillingham Safe Haven (Gillingham): handed on,0,1,1
Gillingham Safe Haven (Gillingham): 999 called,0,0,0
Thanet Safe Haven (Margate): walked in,1,0,1
Thanet Safe Haven (Margate): brought by police,1,0,1
Thanet Safe Haven (Margate): referred,0,0,0
Thanet Safe Haven (Margate): not taken in (not for their age),1,0,1
Thanet Safe Haven (Margate): went home,1,0,1
Thanet Safe Haven (Margate): handed on,0,0,0
Thanet Safe Haven (Margate): 999 called,1,0,1
All havens: arrivals,3,1,4
`
	if b.String() != want {
		t.Errorf("the safe haven report:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Friday, 20:10. SPoA refers Lena, known to the community mental health
// team, to the Maidstone haven. The haven sees her own words and risks, not
// her care team's notes; it cannot give itself the notes, neither by a
// command (there is none for it) nor by publishing the consent itself. Lena
// tells SPoA the haven may see what her care team wrote, so she need not
// explain it all again: from then the haven's view holds it. When she
// changes her mind, it is gone from the haven's view again.
func TestTheHavenSeesTheClinicalRecordOnlyWhileThePersonConsents(t *testing.T) {
	p := start(t)
	p.clock.set(20, 10)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.SPoA, "open", agency.OpenRequest{
		Actor: "SPoA practitioner Ade", Channel: "111", Summary: "Lena rang: overwhelmed, cannot be alone tonight",
		Person: &events.PersonIdentified{GivenName: "Lena", FamilyName: "Marsh", AgeYears: 29},
		Voice:  &events.PersonVoiceRecorded{OwnWords: "I just need somewhere to be tonight."},
	}).Episode
	const history = "Known to the Maidstone CMHT; care coordinator Sam; plan agreed in October"
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: base(ep, "SPoA practitioner Ade"),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "somewhere calm tonight with someone to talk to", KnownToServices: true,
			HealthHistory: history, RecommendedAction: "safe_haven"}})
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.SPoA, "handoff.offer", agency.OfferRequest{Base: base(ep, "SPoA practitioner Ade"),
		Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "Maidstone haven tonight", Urgency: "urgent"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SafeHaven, "handoff.accept", agency.HandoffRequest{Base: base(ep, havenWorker), HandoffID: offer.HandoffID})
	full := p.record(ep, p.caughtUp(ep))
	if len(full.Clinical) == 0 {
		t.Fatal("the care team's notes are not in the record")
	}
	clinical := func() bool {
		raw, _ := p.view(ep, events.SafeHaven, havenWorker)
		return len(episode.ClinicalLeaks(raw, full)) > 0
	}
	if clinical() {
		t.Fatal("the haven sees the clinical record before Lena agreed")
	}

	// The haven cannot grant itself the record.
	nc, err := p.sys.Connect(events.SafeHaven)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := rpc.Call[agency.ConsentRequest, agency.Receipt](ctx, nc.Conn(), agency.Subject(events.SafeHaven, "consent.record"),
		agency.ConsentRequest{Base: base(ep, havenWorker), ConsentRecorded: events.ConsentRecorded{To: events.SafeHaven, Decision: "given"}}); err == nil {
		t.Fatal("the haven recorded consent to see the clinical record itself")
	}
	if _, _, err := nc.Emit(ctx, ep, &events.ConsentRecorded{To: events.SafeHaven, Decision: "given"}); err == nil {
		t.Fatal("the haven published the person's consent itself")
	}
	if clinical() {
		t.Fatal("the haven sees the clinical record after trying to grant it to itself")
	}

	consent := func(decision, words string) {
		do[agency.ConsentRequest, agency.Receipt](p, events.SPoA, "consent.record", agency.ConsentRequest{Base: base(ep, "SPoA practitioner Ade"),
			ConsentRecorded: events.ConsentRecorded{To: events.SafeHaven, Decision: decision, Words: words}})
		p.record(ep, p.caughtUp(ep))
	}
	consent("given", "Yes, they can see what my care team wrote, so I don't have to explain it all again")
	if !clinical() {
		t.Fatal("Lena agreed, but the haven does not see what her care team wrote")
	}
	if raw, _ := p.view(ep, events.SafeHaven, havenWorker); !strings.Contains(fmt.Sprint(raw["clinical"]), history) {
		t.Fatalf("the haven's view of the clinical record: %v", raw["clinical"])
	}
	_, hv := p.view(ep, events.SafeHaven, havenWorker)
	if !hasText(hv.Timeline, "They agree that the safe haven may see their clinical record") {
		t.Fatalf("the timeline does not say Lena agreed: %+v", hv.Timeline)
	}
	consent("withdrawn", "")
	if clinical() {
		t.Fatal("Lena withdrew her consent, but the haven still sees the clinical record")
	}
}
