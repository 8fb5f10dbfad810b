package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
)

// raw stores body on subject exactly as given, as any client with the
// agency's NATS user can (a plain publish; the server permits it under the
// agency's own prefix), and returns where the stream stored it.
func (p *pathway) raw(a events.Agency, subject string, body []byte) uint64 {
	p.t.Helper()
	bus, err := p.sys.Connect(a)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := bus.Conn().Publish(subject, body); err != nil {
		p.t.Fatalf("plain publish on %s: %v", subject, err)
	}
	if err := bus.Conn().Flush(); err != nil {
		p.t.Fatal(err)
	}
	var seq uint64
	s, err := p.admin.JetStream().Stream(context.Background(), natsbus.Stream)
	if err != nil {
		p.t.Fatal(err)
	}
	checkFor(p.t, func() error {
		m, err := s.GetLastMsgForSubject(context.Background(), subject)
		if err != nil {
			return err
		}
		if string(m.Data) != string(body) {
			return fmt.Errorf("last message on %s is not the one just published", subject)
		}
		seq = m.Sequence
		return nil
	})
	return seq
}

func checkFor(t testing.TB, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("not so after 10s: %v", err)
}

// personIdentifiedWithAge returns a valid person.identified event by police
// on ep whose ageYears is written as age (for example 3.5e1): valid for the
// schema, and until now unreadable by Go's int.
func personIdentifiedWithAge(t testing.TB, ep, age string) (events.Event, []byte) {
	t.Helper()
	e, err := events.New(events.Police, ep, &events.PersonIdentified{GivenName: "Daniel", FamilyName: "Reed", AgeYears: 77})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(raw), `"ageYears":77`, `"ageYears":`+age, 1)
	if body == string(raw) {
		t.Fatalf("no ageYears in %s", raw)
	}
	return e, []byte(body)
}

// deadLetters returns the reasons of the dead letters of stream sequence seq, by consumer.
func (p *pathway) deadLetters(seq uint64) map[string][]string {
	p.t.Helper()
	ctx := context.Background()
	s, err := p.admin.JetStream().Stream(ctx, natsbus.DeadLetterStream)
	if err != nil {
		p.t.Fatal(err)
	}
	out := map[string][]string{}
	info, err := s.Info(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	for n := info.State.FirstSeq; info.State.Msgs > 0 && n <= info.State.LastSeq; n++ {
		m, err := s.GetMsg(ctx, n)
		if err != nil {
			continue
		}
		if m.Header.Get(natsbus.HeaderDeadSequence) == strconv.FormatUint(seq, 10) {
			c := m.Header.Get(natsbus.HeaderDeadConsumer)
			out[c] = append(out[c], m.Header.Get(natsbus.HeaderDeadReason))
		}
	}
	return out
}

// unreadable is a record condition: the view lists exactly these stored
// sequences as unreadable, each with a reason containing says.
func unreadable(want map[uint64]string) func(episode.View) error {
	return func(v episode.View) error {
		if len(v.Unreadable) != len(want) {
			return fmt.Errorf("unreadable facts %+v, want %d", v.Unreadable, len(want))
		}
		for _, u := range v.Unreadable {
			says, ok := want[u.Seq]
			if !ok || !strings.Contains(u.Reason, says) || u.Agency != events.Police {
				return fmt.Errorf("unreadable fact %+v, want one of %v by police", u, want)
			}
		}
		return nil
	}
}

// One message nobody can read, and one the schema accepts but Go could not
// read, stored on an open episode mid-handoff: every later command on the
// episode still works, the handoff is acknowledged, accepted and completed,
// the clocks still run, the view reads 3.5e1 as 35 and shows that one
// stored fact could not be read, which is dead-lettered once however often
// the episode is read.
func TestOneBadMessageNeverBlocksAnEpisode(t *testing.T) {
	p := start(t)
	ctx := context.Background()
	var ep string
	var garbageSeq, ageSeq uint64
	var ageEvent events.Event
	injected := false
	ep = s136Pathway(t, p, "not_admitted", func() {
		if injected {
			return
		}
		injected = true
		// mid runs just after the police offered the assessment: the clock
		// service, the record and the AMHP inbox all read what follows.
		ep := p.lastEpisode(t)
		garbageSeq = p.raw(events.Police, "crisis.police."+ep+".s136_welfare_checked_v1", []byte("hello, this is not JSON"))
		var body []byte
		ageEvent, body = personIdentifiedWithAge(t, ep, "3.5e1")
		subj, err := events.Subject(ageEvent)
		if err != nil {
			t.Fatal(err)
		}
		ageSeq = p.raw(events.Police, subj, body)

		// A command on the episode right away: it reads past both.
		v, _, err := record.Load(ctx, p.admin, ep)
		if err != nil {
			t.Fatalf("the episode cannot be read after one bad message: %v", err)
		}
		if err := unreadable(map[uint64]string{garbageSeq: "not valid JSON"})(v); err != nil {
			t.Fatal(err)
		}
		if v.Person.AgeYears != 35 {
			t.Fatalf("ageYears 3.5e1 read as %d, want 35", v.Person.AgeYears)
		}
		do[agency.VoiceRequest, agency.Receipt](p, events.Police, "voice", agency.VoiceRequest{Base: base(ep, "PC 4471 Hughes"),
			PersonVoiceRecorded: events.PersonVoiceRecorded{OwnWords: "I just want Jo to come"}})

		// The clock service carries on past them: the AMHP service has an
		// hour to accept, and when it does not the clock breaches.
		offer := v.Handoffs[len(v.Handoffs)-1]
		p.acknowledged(ep, offer.ID)
		p.clock.Advance(61 * time.Minute)
		p.record(ep, func(v episode.View) error {
			for _, c := range v.Clocks {
				if c.Clock == events.HandoffAcceptClock && c.Ref == offer.ID && c.Breached {
					return nil
				}
			}
			return fmt.Errorf("no breached handoff_accept clock for %s: %+v", offer.ID, v.Clocks)
		})
	})
	if !injected {
		t.Fatal("the bad messages were never stored")
	}

	// The projection shows the same as a replay: the unreadable message
	// listed with its reason, the age read, the journey complete.
	v := p.record(ep, func(v episode.View) error {
		if !v.Closed {
			return fmt.Errorf("episode not closed")
		}
		if err := p.caughtUp(ep)(v); err != nil {
			return err
		}
		return unreadable(map[uint64]string{garbageSeq: "not valid JSON"})(v)
	})
	if !v.Has(ageEvent.ID) || v.Person.AgeYears != 35 || v.OwnWords != "I just want Jo to come" {
		t.Fatalf("record: age event applied %v, age %d, own words %q", v.Has(ageEvent.ID), v.Person.AgeYears, v.OwnWords)
	}
	loaded, _, err := record.Load(ctx, p.admin, ep)
	if err != nil {
		t.Fatal(err)
	}
	if normalised(loaded) != normalised(v) {
		t.Fatalf("replay and projection differ:\n%s\n%s", normalised(loaded), normalised(v))
	}
	// Every agency's view shows it (it names no value, nothing clinical).
	police, _ := p.view(ep, events.Police, "control room inspector")
	if _, ok := police["unreadable"]; !ok {
		t.Fatalf("the police view does not show the unreadable fact: %v", police)
	}

	// Dead-lettered: by replay exactly once, although the episode was read
	// by every command since; by each consumer that reads welfare checks.
	dl := p.deadLetters(garbageSeq)
	if n := len(dl[natsbus.ReplayConsumer]); n != 1 {
		t.Fatalf("the unreadable message was dead-lettered %d times by replay, want once: %v", n, dl)
	}
	for _, c := range []string{record.Durable, "clock"} {
		if len(dl[c]) != 1 || !strings.Contains(dl[c][0], "not valid JSON") {
			t.Errorf("consumer %s dead letters of the unreadable message: %v", c, dl[c])
		}
	}
	if dl := p.deadLetters(ageSeq); len(dl) != 0 {
		t.Fatalf("the event with ageYears 3.5e1 was dead-lettered: %v", dl)
	}
}

// lastEpisode is the episode of the newest event stored.
func (p *pathway) lastEpisode(t testing.TB) string {
	t.Helper()
	s, err := p.admin.JetStream().Stream(context.Background(), natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), events.AllSubjects())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(m.Subject, ".")[2]
}

// JSON that readers could read differently is refused at the door with a
// reason naming what was wrong; stored anyway by a client that bypasses
// crisisbus, it is read by nobody, shown as unreadable with the same
// reason, and the episode's journey goes on.
func TestHostileJSONIsRefusedWithItsReasonAndTheEpisodeGoesOn(t *testing.T) {
	p := start(t)
	ctx := context.Background()
	pc := "PC 2209 Lowe"
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler", Channel: "999", Summary: "man on the railway footbridge, distressed"}).Episode
	valid, err := events.New(events.Police, ep, &events.S136Detained{DetainedAt: p.clock.Now(), LocationType: "public_place", AgeYears: 34, Consulted: true}, events.At(p.clock.Now()), events.By(pc))
	if err != nil {
		t.Fatal(err)
	}
	good, err := events.Encode(valid)
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := events.Subject(valid)
	at := p.clock.Now().UTC().Format(time.RFC3339)
	cases := []struct{ name, from, to, says string }{
		{"a key twice", `"locationType":"public_place"`, `"locationType":"private_dwelling","locationType":"public_place"`, `/data/locationType: duplicate key "locationType"`},
		{"invalid UTF-8", `"actor":"` + pc, `"actor":"PC 2209 L` + "\xff", "not valid UTF-8"},
		{"a lone surrogate", `"locationType":"public_place"`, `"locationType":"public_place\ud800"`, `/data/locationType: lone surrogate \ud800`},
		{"the year 9999", `"time":"` + at, `"time":"9999-12-31T23:59:59Z`, "/time: is not a valid date-time: year 9999 is implausible"},
		{"the year 0001", `"detainedAt":"` + at, `"detainedAt":"0001-01-01T00:00:00Z`, "/data/detainedAt: is not a valid date-time: year 1 is implausible"},
	}
	want := map[uint64]string{}
	for _, c := range cases {
		if !strings.Contains(string(good), c.from) {
			t.Fatalf("%s: the event has no %s: %s", c.name, c.from, good)
		}
		body := []byte(strings.Replace(string(good), c.from, c.to, 1))
		// Refused at the door: publish, import, consume and `schema validate` all parse.
		if _, err := events.Parse(body); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Fatalf("%s: Parse said %v, want %q", c.name, err, c.says)
		}
		// Stored by a client that bypasses crisisbus: nobody acts on it.
		want[p.raw(events.Police, subject, body)] = c.says
	}
	v, _, err := record.Load(ctx, p.admin, ep)
	if err != nil {
		t.Fatalf("the episode cannot be read: %v", err)
	}
	if err := unreadable(want)(v); err != nil {
		t.Fatal(err)
	}
	if v.S136 != nil {
		t.Fatalf("a refused detention was applied: %+v", v.S136)
	}
	p.record(ep, unreadable(want))
	for seq, says := range want {
		if dl := p.deadLetters(seq)[record.Durable]; len(dl) != 1 || !strings.Contains(dl[0], says) {
			t.Errorf("the record's dead letter of sequence %d: %v, want %q", seq, dl, says)
		}
	}

	// The journey: consultation, detention, place of safety, the AMHP
	// service takes the assessment.
	do[police.ConsultRequest, agency.Receipt](p, events.Police, "s136.consult", police.ConsultRequest{Base: base(ep, pc),
		S136Consulted: events.S136Consulted{Practicable: true, Professional: "nurse", Advice: "detain; health-based place of safety"}})
	do[police.DetainRequest, agency.Receipt](p, events.Police, "s136.detain", police.DetainRequest{Base: base(ep, pc),
		DetainedAt: p.clock.Now(), LocationType: "public_place", AgeYears: 34})
	p.clock.Advance(30 * time.Minute)
	do[police.ArriveRequest, agency.Receipt](p, events.Police, "pos.arrive", police.ArriveRequest{Base: base(ep, pc),
		PlaceOfSafetyArrived: events.PlaceOfSafetyArrived{ArrivedAt: p.clock.Now(), PlaceType: events.HealthBasedPlaceOfSafety, PlaceName: "Medway s136 suite"}})
	offer := do[agency.OfferRequest, agency.OfferResponse](p, events.Police, "handoff.offer", agency.OfferRequest{Base: base(ep, pc),
		Kind: events.MHAAssessment, To: events.AMHP, Reason: "detained under s136, needs an MHA assessment", Urgency: "emergency"})
	p.acknowledged(ep, offer.HandoffID)
	do[agency.HandoffRequest, agency.Receipt](p, events.AMHP, "handoff.accept", agency.HandoffRequest{Base: base(ep, "AMHP Jo"), HandoffID: offer.HandoffID})
	v = p.owner(ep, events.AMHP)
	if v.S136 == nil || v.S136.LocationType != "public_place" || v.S136.PlaceName != "Medway s136 suite" {
		t.Fatalf("s136 after the journey: %+v", v.S136)
	}
	if err := unreadable(want)(v); err != nil {
		t.Fatal(err)
	}
}
