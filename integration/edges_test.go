package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// longID is what a console user typed into the address bar
// (/episodes/<5,000 characters>): longer than the NATS server reads as one
// protocol line once it is in a subject or a key.
var longID = strings.Repeat("a", 5000)

// rawRequest sends body to subject as any client could, without the checks
// rpc.Call makes, and returns the refusal's code and sentence.
func (p *pathway) rawRequest(subject, body string) (int, string) {
	p.t.Helper()
	m, err := p.admin.Conn().Request(subject, []byte(body), 10*time.Second)
	if err != nil {
		p.t.Fatalf("%s: %v", subject, err)
	}
	code := m.Header.Get(micro.ErrorCodeHeader)
	if code == "" {
		p.t.Fatalf("%s answered %s, want a refusal", subject, m.Data)
	}
	var n int
	for _, c := range code {
		n = n*10 + int(c-'0')
	}
	return n, m.Header.Get(micro.ErrorHeader)
}

func (p *pathway) refusedRaw(subject, body string, code int, says string) {
	p.t.Helper()
	got, msg := p.rawRequest(subject, body)
	if got != code || !strings.Contains(msg, says) {
		p.t.Fatalf("%s refused with %d %q, want %d containing %q", subject, got, msg, code, says)
	}
}

// everyViewAndWorklistAnswers asks the record for every agency's view of ep
// and every agency's worklist: what "no responders" took from every agency.
func (p *pathway) everyViewAndWorklistAnswers(ep string) {
	p.t.Helper()
	for _, a := range events.Agencies {
		if _, v := p.view(ep, a, "duty worker"); v.Episode != ep {
			p.t.Fatalf("%s view is of episode %q, want %s", a, v.Episode, ep)
		}
		do[record.WorklistRequest, record.WorklistResponse](p, events.Record, string(a)+".worklist",
			record.WorklistRequest{Viewer: "duty worker", Purpose: "start of shift"})
	}
}

const tooLong = "episode is too long: 5000 characters, at most 64"

// A 5,000-character episode id sent to the record (as the console sent it
// from /episodes/<id>) is refused with 400 naming the field and the limit,
// on every subject of the record, and the record stays on the bus: every
// agency's view and worklist answer afterwards.
func TestA5000CharacterEpisodeIDIsRefusedByTheRecordWhichStaysOnTheBus(t *testing.T) {
	p := start(t)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 1123", Channel: "999", Summary: "woman in distress at the station footbridge", Location: "Chatham station"}).Episode
	p.owner(ep, events.Police)

	for _, a := range events.Agencies {
		p.refusedRaw(record.ViewSubject(a), `{"episode":"`+longID+`","viewer":"PC 4471","purpose":"checking"}`, 400, tooLong)
		p.refusedRaw(record.StateSubject(a), `{"episode":"`+longID+`","actor":"PC 4471"}`, 400, tooLong)
		p.refusedRaw(record.WorklistSubject(a), `{"agency":"`+longID+`","viewer":"PC 4471","purpose":"checking"}`, 400,
			"agency is too long: 5000 characters, at most 64")
		p.refusedRaw(record.WorklistSubject(a), `{"viewer":"`+longID+`","purpose":"checking"}`, 400,
			"viewer is too long: 5000 characters, at most 200")
	}
	p.refusedRaw(record.SubjectDisclosures, `{"episode":"`+longID+`"}`, 400, tooLong)
	p.refusedRaw(record.SubjectMatch, `{"episode":"`+longID+`"}`, 400, tooLong)
	p.refusedRaw(record.ViewSubject(events.Police), `{"episode":"`+ep+`","viewer":"PC 4471","purpose":"checking","after":"`+longID+`"}`, 400,
		"after is too long: 5000 characters, at most 64")
	// A malformed one is refused the same way, before it reaches a subject.
	p.refusedRaw(record.ViewSubject(events.Police), `{"episode":"crisis.>","viewer":"PC 4471","purpose":"checking"}`, 400,
		"episode must be an id of letters, digits, '-' and '_'")
	// A client using rpc.Call is refused before anything is sent.
	_, err := rpc.Call[record.ViewRequest, record.ViewResponse](context.Background(), p.admin.Conn(), record.ViewSubject(events.Police),
		record.ViewRequest{Episode: longID, Viewer: "PC 4471", Purpose: "checking", Reason: "a test reads every agency's view"})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != 400 || !strings.Contains(re.Message, tooLong) {
		t.Fatalf("rpc.Call with a 5,000-character episode id: %v, want a 400 saying %q", err, tooLong)
	}

	// The record still answers everyone, and the pathway goes on.
	p.everyViewAndWorklistAnswers(ep)
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4471"),
		Kind: events.SPoAReferral, To: events.SPoA, Reason: "known to the CMHT; needs the crisis team tonight", Urgency: "urgent"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.SPoA, "handoff.accept", agency.HandoffRequest{Base: base(ep, "SPoA nurse Ola"), HandoffID: offer.HandoffID})
	p.owner(ep, events.SPoA)
	if n := p.continuity(ep, offer.HandoffID); n < 1 {
		t.Fatalf("the referral carried %d facts", n)
	}
}

// A 5,000-character episode or handoff id in a command to the AMHP service
// (as `crisisbus call amhp voice` sent it) is refused with 400, and the AMHP
// service and the record stay on the bus: an s136 assessment request is
// then accepted and recorded as usual.
func TestA5000CharacterIDInACommandIsRefusedAndTheAMHPServiceStaysOnTheBus(t *testing.T) {
	p := start(t)
	p.refusedRaw(agency.Subject(events.AMHP, "voice"), `{"episode":"`+longID+`","actor":"AMHP Sarah Okafor","ownWords":"leave me be"}`, 400, tooLong)
	refused(p, events.AMHP, "voice", agency.VoiceRequest{Base: base(longID, "AMHP Sarah Okafor")}, 400, tooLong)
	p.refusedRaw(agency.Subject(events.AMHP, "handoff.accept"), `{"episode":"`+longID[:36]+`","actor":"AMHP","handoffId":"`+longID+`"}`, 400,
		"handoffId is too long: 5000 characters, at most 64")
	p.refusedRaw(agency.Subject(events.AMHP, "link"), `{"episode":"`+longID[:36]+`","actor":"AMHP","otherEpisode":"`+longID+`"}`, 400,
		"otherEpisode is too long: 5000 characters, at most 64")
	p.refusedRaw(agency.Subject(events.Police, "handoff.offer"), `{"episode":"`+longID[:36]+`","actor":"PC","kind":"mha_assessment","to":"`+longID+`"}`, 400,
		"to is too long: 5000 characters, at most 64")
	p.refusedRaw(agency.Subject(events.AMHP, "voice"), `{"episode":"`+longID[:36]+`","actor":"AMHP","ownWords":"`+strings.Repeat("x", rpc.MaxRequestBytes)+`"}`, 400,
		"the body is too large")

	ep := detainedUnderS136(t, p, func() {})
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, "PC 4471 Hughes"),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "detained under s136, at the Medway s136 suite", Urgency: "emergency"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Sarah Okafor"), HandoffID: offer.HandoffID})
	p.owner(ep, events.AMHP)
	do[amhp.DelayRequest, agency.Receipt](p, events.AMHP, "delay", amhp.DelayRequest{Base: base(ep, "AMHP Sarah Okafor"),
		AssessmentDelayed: events.AssessmentDelayed{Cause: "s12_doctor_availability", Detail: "no s12 doctor free until 02:00"}})
	p.everyViewAndWorklistAnswers(ep)
}
