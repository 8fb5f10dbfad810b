package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// An outside client holding only the police password listens on every
// subject the server lets it, asks for everything police may ask for, and
// tries to read the stream and rewrite the record, all through an s136
// pathway that ends with the helpline's follow-up. It finds none of the
// clinical text the health agencies recorded, and changes nothing.
func TestAClientWithPolicePasswordFindsNoHealthAgencysClinicalTextAndChangesNothing(t *testing.T) {
	p := start(t)
	var mu sync.Mutex
	var heard []string
	refusals := make(chan error, 256)
	nc, err := broker.ConnectAs(p.sys.URL, p.sys.Broker.Credentials(), events.Police,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refusals <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	listen := func(m *nats.Msg) {
		mu.Lock()
		heard = append(heard, m.Subject+" "+string(m.Data))
		mu.Unlock()
	}
	// Everything police may subscribe to: its replies, the requests its own
	// service answers (outside the service's queue group, so it hears them
	// all) and its service's discovery subjects.
	for _, s := range rights.Agency(events.Police).Subjects().SubscribeAllow {
		if _, err := nc.Subscribe(s, listen); err != nil {
			t.Fatal(err)
		}
	}
	// What it may not: everything, the stream, other agencies' replies.
	for _, s := range []string{">", "crisis.>", "_INBOX.>", "_INBOX_amhp.>", "crisisbus.amhp.>", "$KV.>"} {
		if _, err := nc.Subscribe(s, listen); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()

	ep := s136Pathway(t, p, "not_admitted", func() {})
	street := streetTriagePathway(t, p)
	full := p.record(ep, p.caughtUp(ep))
	// Every clinical note counts, whoever wrote it: the control-room mental
	// health worker's health history and the street triage nurse's notes
	// too, which the trust records, so police credentials never carry them.
	var clinical []string
	kinds := map[string]int{}
	for _, v := range []episode.View{full, p.record(street, p.caughtUp(street))} {
		for _, n := range v.Clinical {
			clinical = append(clinical, n.Text)
			kinds[n.Kind]++
			if n.Agency == events.Police {
				t.Errorf("a %s note was recorded under police credentials", n.Kind)
			}
		}
	}
	if len(clinical) < 5 || kinds["health_history"] < 2 || kinds["street_triage_notes"] < 1 {
		t.Fatalf("the pathways recorded %d clinical notes (%v); the check would prove little without the health history and the street triage notes", len(clinical), kinds)
	}

	// Then it asks for all police may see, and tries the stream and the record.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ask := func(subject string, req any) {
		raw, _ := json.Marshal(req)
		m, err := nc.RequestWithContext(ctx, subject, raw)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		listen(m)
	}
	for _, e := range []string{ep, street} {
		ask(record.ViewSubject(events.Police), record.ViewRequest{Episode: e, Viewer: "outside client", Purpose: "looking"})
		ask(record.StateSubject(events.Police), record.StateRequest{Episode: e})
	}
	ask(record.WorklistSubject(events.Police), record.WorklistRequest{Viewer: "outside client", Purpose: "looking"})
	// A request police may not send is refused by the server, and the
	// caller is told so (403) rather than left waiting for its timeout.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Second)
	defer cancelShort()
	var denied *rpc.Error
	if _, err := rpc.Call[record.ViewRequest, record.ViewResponse](short, nc, record.ViewSubject(events.AMHP),
		record.ViewRequest{Episode: ep, Viewer: "outside client", Purpose: "looking"}); !errors.As(err, &denied) || denied.Code != rpc.Forbidden {
		t.Errorf("police asked for the AMHP service's view of the record: %v, want 403 from the server's permissions", err)
	}
	js, _ := natsbus.NewJetStream(nc)
	if c, err := js.OrderedConsumer(short, natsbus.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.EpisodeSubjects(ep)}}); err == nil {
		if _, err := c.Fetch(1, jetstream.FetchMaxWait(time.Second)); err == nil {
			t.Error("police read the episode's events from the stream")
		}
	}
	if _, err := js.KeyValue(short, rights.EpisodesBucket); err == nil {
		t.Error("police opened the record's bucket")
	}
	owner := full.Owner
	nc.Publish("$KV."+rights.EpisodesBucket+"."+ep, []byte(`{"owner":"police","ownWords":"forged"}`))
	nc.Publish(natsbus.APIPrefix+".CONSUMER.DELETE."+natsbus.Stream+"."+rights.InboxDurable(events.AMHP), nil)
	nc.Flush()

	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(heard, "\n")
	if !strings.Contains(all, "Daniel") || !strings.Contains(all, streetAdvice) {
		t.Fatalf("the client heard nothing of the episode police may see (%d messages): the check would prove nothing", len(heard))
	}
	for _, c := range clinical {
		if strings.Contains(all, c) {
			t.Errorf("a client with the police password read clinical text %q", c)
		}
	}
	v, _ := p.view(ep, events.AMHP, "clinician")
	if v["owner"] != string(owner) || strings.Contains(v["ownWords"].(string), "forged") {
		t.Errorf("the AMHP service's view changed: owner %v, own words %v", v["owner"], v["ownWords"])
	}
	if _, err := p.admin.JetStream().Consumer(ctx, natsbus.Stream, rights.InboxDurable(events.AMHP)); err != nil {
		t.Errorf("the AMHP inbox consumer is gone: %v", err)
	}
	n := 0
	for done := false; !done; {
		select {
		case <-refusals:
			n++
		default:
			done = true
		}
	}
	t.Logf("%d messages heard, %d clinical notes (%v), none among them; %d acts refused by the server", len(heard), len(clinical), kinds, n)
}

const streetAdvice = "known to the crisis team; send street triage rather than officers alone"

// streetTriagePathway: a call to the control room; the control-room mental
// health worker advises, with the person's health history; street triage
// attends and its nurse records the outcome with their notes. The advice
// and the notes are the trust's staff's, recorded through the trust's
// service; the call handler's facts through police's.
func streetTriagePathway(t *testing.T, p *pathway) string {
	t.Helper()
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 2210", Channel: "101", Summary: "man shouting in the car park, says people are following him",
		Person: &events.PersonIdentified{GivenName: "Tom", FamilyName: "Ashby", AgeYears: 29}}).Episode
	do[police.TriageRequest, agency.Receipt](p, events.Police, "triage.request", police.TriageRequest{Base: base(ep, "call handler 2210"),
		TriageRequested: events.TriageRequested{CallerAccount: "security guard", Concern: "frightened and shouting", Risk: "medium"}})
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: base(ep, "control-room MH worker Amira"),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: streetAdvice, KnownToServices: true,
			HealthHistory: "first-episode psychosis 2025; stopped olanzapine in the summer", RecommendedAction: "street_triage"}})
	do[police.DispatchRequest, agency.Receipt](p, events.Police, "street_triage.dispatch", police.DispatchRequest{Base: base(ep, "call handler 2210"),
		StreetTriageDispatched: events.StreetTriageDispatched{Team: "East Kent street triage: PC and KMPT nurse"}})
	do[agency.StreetOutcomeRequest, agency.Receipt](p, events.SPoA, "street_triage.outcome", agency.StreetOutcomeRequest{Base: base(ep, "street triage nurse Kemi"),
		StreetTriageOutcome: events.StreetTriageOutcome{S136Avoided: true, Outcome: "referred_spoa", Notes: "paranoid ideation, no intent to harm; agreed to see the crisis team tomorrow"}})
	return ep
}

// The record, not the console, decides that an agency with no part in an
// episode must say why it opens it: a client holding the police password
// asks for the police view of an ambulance call police never touched. It
// is refused until it gives a reason, and the reason is what the record
// then shows as why police looked.
func TestAnAgencyWithNoPartInAnEpisodeMustSayWhyItOpensItWhoeverAsks(t *testing.T) {
	p := start(t)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", agency.OpenRequest{
		Actor: "EOC call handler 77", Channel: "999", Summary: "son says his mother hears voices telling her to hurt herself"}).Episode
	p.record(ep, func(episode.View) error { return nil }) // the rec knows the episode
	nc, err := broker.ConnectAs(p.sys.URL, p.sys.Broker.Credentials(), events.Police)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := record.ViewRequest{Episode: ep, Viewer: "PC 4471", Purpose: "direct care"}
	_, err = rpc.Call[record.ViewRequest, record.ViewResponse](ctx, nc, record.ViewSubject(events.Police), req)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.Forbidden || !strings.Contains(re.Message, episode.NoPartMessage) {
		t.Fatalf("police view of an episode police have no part in, without a reason: %v, want 403 %q", err, episode.NoPartMessage)
	}
	req.Reason = "her son called 101 as well; checking it is the same person"
	if _, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, nc, record.ViewSubject(events.Police), req); err != nil {
		t.Fatalf("with a reason: %v", err)
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		d, err := p.store.Disclosures(ctx, ep)
		if err != nil {
			return err
		}
		for _, e := range d.Entries {
			if e.Agency == events.Police && e.Purpose == episode.NoPartPurpose+req.Reason {
				return nil
			}
		}
		return fmt.Errorf("the record's disclosures %+v lack police's reason", d.Entries)
	})
}

// A password alone never makes an agency a party to an episode. The trust
// (SPoA) holds a GP referral with the person's health history; a client
// holding the police password, which has the episode's id:
//   - cannot have the police service read it or record on it (who the
//     person is), nor the ambulance service read it: refused with 403;
//   - publishes a close and a new identity straight to the bus: the server
//     stores them, the record does not apply them (conflicts), so the
//     episode stays open, the person unchanged, police still no party;
//   - publishes clinical text on its own episode: not applied.
//
// The trust's control-room staff advise on police's own call, not on the
// ambulance service's. Linking police's own episode to the trust's as the
// same person works,
// with the link's reason recorded as why police read it, and gives police
// no part in the trust's episode.
func TestAPasswordAloneNeverMakesAnAgencyPartyToAnEpisode(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	trust := do[agency.OpenRequest, agency.OpenResponse](p, events.SPoA, "open", agency.OpenRequest{
		Actor: "SPoA clinician", Channel: "referral", Summary: "GP referral: low mood, lives with sister",
		Person: &events.PersonIdentified{GivenName: "Sam", FamilyName: "Reed", NHSNumber: "9434765919"}}).Episode
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: agency.Base{Episode: trust, Actor: "SPoA clinician"},
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "CMHT review", HealthHistory: "bipolar disorder; lithium", RecommendedAction: "refer_spoa"}})

	refused := func(what string, err error) {
		t.Helper()
		var re *rpc.Error
		if !errors.As(err, &re) || re.Code != rpc.Forbidden || !strings.Contains(re.Message, episode.NoPartMessage) {
			t.Fatalf("%s: %v, want 403 %q", what, err, episode.NoPartMessage)
		}
	}
	policeBus, err := p.sys.Connect(events.Police)
	if err != nil {
		t.Fatal(err)
	}
	ambulance, err := p.sys.Connect(events.Ambulance)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rpc.Call[record.StateRequest, record.StateResponse](ctx, ambulance.Conn(), record.StateSubject(events.Ambulance), record.StateRequest{Episode: trust, Actor: "EOC 77"})
	refused("the ambulance service reads the trust's episode", err)
	_, err = rpc.Call[agency.IdentifyRequest, agency.Receipt](ctx, policeBus.Conn(), agency.Subject(events.Police, "identify"),
		agency.IdentifyRequest{Base: agency.Base{Episode: trust, Actor: "PC nobody"}, PersonIdentified: events.PersonIdentified{GivenName: "Someone", FamilyName: "Else", NHSNumber: "4010232137"}})
	refused("police say who the person on the trust's episode is", err)

	for _, data := range []any{&events.PersonIdentified{GivenName: "Someone", FamilyName: "Else", NHSNumber: "4010232137"},
		&events.EpisodeClosed{Reason: "closed by someone who does not hold it"}} {
		e, err := events.New(events.Police, trust, data, events.By("PC nobody"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policeBus.Publish(ctx, e); err != nil {
			t.Fatalf("the server refused police's own subject: %v", err)
		}
	}
	v := p.record(trust, func(v episode.View) error {
		if len(v.Conflicts) < 2 {
			return fmt.Errorf("conflicts %q, want police's two facts", v.Conflicts)
		}
		return nil
	})
	if v.Closed || v.Person.NHSNumber != "9434765919" || v.HasPart(events.Police) {
		t.Fatalf("closed %v, person %+v, police a party %v: want the trust's episode as it was", v.Closed, v.Person, v.HasPart(events.Police))
	}
	_, err = rpc.Call[record.ViewRequest, record.ViewResponse](ctx, policeBus.Conn(), record.ViewSubject(events.Police), record.ViewRequest{Episode: trust, Viewer: "PC nobody", Purpose: "curiosity"})
	refused("police view the trust's episode after publishing on it", err)

	own := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "PC 4471", Channel: "999", Summary: "man on a bridge", Person: &events.PersonIdentified{NHSNumber: "9434765919"}}).Episode
	clinical, err := events.New(events.Police, own, &events.TriageAdviceGiven{Advice: "x", HealthHistory: "schizophrenia; clozapine", RecommendedAction: "refer_spoa"}, events.By("PC 4471"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policeBus.Publish(ctx, clinical); err != nil {
		t.Fatal(err)
	}
	p.record(own, func(v episode.View) error {
		if len(v.Conflicts) != 1 || !strings.Contains(v.Conflicts[0], "healthHistory is clinical") || len(v.Clinical) != 0 {
			return fmt.Errorf("conflicts %q, clinical %+v: want police's clinical text not applied", v.Conflicts, v.Clinical)
		}
		return nil
	})

	// The trust's control-room staff advise on police's calls, and only
	// there: on the ambulance service's call the trust has no part in,
	// its advice is refused.
	eoc := do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", agency.OpenRequest{
		Actor: "EOC call handler 77", Channel: "999", Summary: "woman at home, overdose"}).Episode
	spoa, err := p.sys.Connect(events.SPoA)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rpc.Call[agency.AdviceRequest, agency.Receipt](ctx, spoa.Conn(), agency.Subject(events.SPoA, "triage.advice"), agency.AdviceRequest{
		Base: agency.Base{Episode: eoc, Actor: "control-room MH worker"}, TriageAdviceGiven: events.TriageAdviceGiven{Advice: "x", HealthHistory: "invented", RecommendedAction: "refer_spoa"}})
	refused("the trust advises on the ambulance service's call", err)
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: agency.Base{Episode: own, Actor: "control-room MH worker"},
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: "known to CMHT", HealthHistory: "bipolar disorder", RecommendedAction: "refer_spoa"}})

	reason := "same NHS number as the man on the bridge"
	do[agency.LinkRequest, agency.Receipt](p, events.Police, "link", agency.LinkRequest{Base: agency.Base{Episode: own, Actor: "PC 4471"},
		OtherEpisode: trust, MatchedOn: []string{"nhs_number"}, Reason: reason})
	v = p.record(trust, func(v episode.View) error {
		if len(v.Links) != 1 || v.Links[0].OtherEpisode != own {
			return fmt.Errorf("links %+v, want police's episode", v.Links)
		}
		return nil
	})
	if v.HasPart(events.Police) {
		t.Fatal("linking police's episode to the trust's made police a party to it")
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		d, err := p.store.Disclosures(ctx, trust)
		if err != nil {
			return err
		}
		for _, e := range d.Entries {
			if e.Agency == events.Police && strings.HasPrefix(e.Purpose, episode.NoPartPurpose) && strings.Contains(e.Purpose, reason) {
				return nil
			}
		}
		return fmt.Errorf("the trust's disclosures %+v lack police's reason for reading it", d.Entries)
	})
}
