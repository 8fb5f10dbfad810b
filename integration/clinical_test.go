package integration

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// healthField is a data field the contract marks for health agencies only.
type healthField struct {
	spec  events.Spec
	field string
}

// healthFields are every health-only field of the contract, read from the
// schemas' audience annotation (the one place it is stated).
func healthFields(t *testing.T) []healthField {
	t.Helper()
	var out []healthField
	for _, s := range events.Catalogue() {
		fields, err := s.HealthFields()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			out = append(out, healthField{s, f})
		}
	}
	if len(out) < 5 {
		t.Fatalf("%d health-only fields in the contract; it has at least 5 (health history, street triage, ambulance, assessment and follow-up notes)", len(out))
	}
	return out
}

// exampleData is the valid example of the type's data in the contract's
// test data, with field set to text.
func exampleData(t *testing.T, s events.Spec, field, text string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../schemas/testdata/valid/" + s.Name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Data[field] = text
	return doc.Data
}

var trustSubject = regexp.MustCompile(`crisisbus\.spoa\.[a-z_.]*[a-z]`)

// Every command of the police service, as the running service lists them,
// refuses every field the schemas mark for health agencies only, sent with
// the rest of its fact: a command that records the fact refuses it with a
// 400 naming the field and the trust's command that records it instead;
// any other refuses the request as not its own. Nothing is stored. Sent there,
// the same text is recorded under the trust: the police view shows the rest
// of the fact (the advice, the street triage outcome) and never the
// clinical text; the AMHP service's and SPoA's views show it.
func TestEveryPoliceCommandRefusesEveryHealthOnlyFieldAndTheTrustRecordsIt(t *testing.T) {
	p := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	fields := healthFields(t)
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Police, "open", agency.OpenRequest{
		Actor: "call handler 2210", Channel: "999", Summary: "woman on the multi-storey car park roof",
		Person: &events.PersonIdentified{GivenName: "Ruth", FamilyName: "Okoye", AgeYears: 41}}).Episode

	// The police service's commands, from the service itself: a command
	// added later is checked too.
	m, err := p.admin.Conn().RequestWithContext(ctx, "$SRV.INFO.crisisbus-police", nil)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(m.Data, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoints) < 20 {
		t.Fatalf("the police service lists %d commands; it has at least 20", len(info.Endpoints))
	}
	before := len(p.stored(ep))

	key := func(hf healthField) string { return hf.spec.Name + " " + hf.field }
	refusedBy := map[string][]string{} // the police commands that refused it as clinical
	instead := map[string]string{}     // the trust's command they named
	for _, e := range info.Endpoints {
		for _, hf := range fields {
			// The whole fact of the field's type, with clinical text in it.
			req := exampleData(t, hf.spec, hf.field, "clinical text of "+hf.spec.Name+" "+hf.field)
			req["episode"], req["actor"] = ep, "control-room MH worker Amira"
			_, err := rpc.Call[map[string]any, json.RawMessage](ctx, p.admin.Conn(), e.Subject, req)
			var re *rpc.Error
			if !errors.As(err, &re) || re.Code != rpc.BadRequest {
				t.Errorf("%s with %s of %s answered %v; want a 400", e.Subject, hf.field, hf.spec.Name, err)
				continue
			}
			if !strings.Contains(re.Message, hf.field+" is clinical") {
				// A command that records another fact: the request is not one of its.
				if !strings.Contains(re.Message, "unknown field") {
					t.Errorf("%s with %s of %s refused with %q; want it refused as clinical or as not its request", e.Subject, hf.field, hf.spec.Name, re.Message)
				}
				continue
			}
			to := trustSubject.FindString(re.Message)
			if to == "" {
				t.Errorf("%s refuses %s as clinical without naming the trust's command that records it: %q", e.Subject, hf.field, re.Message)
				continue
			}
			refusedBy[key(hf)] = append(refusedBy[key(hf)], e.Subject)
			instead[key(hf)] = to
			t.Logf("%s: %s", e.Subject, re.Message)
		}
	}
	if after := len(p.stored(ep)); after != before {
		t.Fatalf("%d events stored by refused commands", after-before)
	}
	// Every health-only field of a type police may publish has a police
	// command that records the type, refusing the field and saying where it goes.
	for _, hf := range fields {
		if hf.spec.MayPublish(events.Police) && len(refusedBy[key(hf)]) == 0 {
			t.Errorf("no police command refuses %s of %s as clinical and names where it is recorded", hf.field, hf.spec.Name)
		}
	}
	if len(instead) < 2 {
		t.Fatalf("%d health-only fields refused as clinical by police commands; the health history and the street triage notes at least", len(instead))
	}

	// Where the refusals point: the trust records the same fact with its
	// clinical text. Police see the fact, health agencies the text too.
	var sent []healthField
	for _, hf := range fields {
		to, ok := instead[key(hf)]
		if !ok {
			continue
		}
		sent = append(sent, hf)
		text := "recorded under the trust: " + hf.spec.Name + " " + hf.field
		req := exampleData(t, hf.spec, hf.field, text)
		req["episode"], req["actor"] = ep, "control-room MH worker Amira"
		if _, err := rpc.Call[map[string]any, agency.Receipt](ctx, p.admin.Conn(), to, req); err != nil {
			t.Fatalf("%s (named by police's refusal of %s): %v", to, hf.field, err)
		}
		// The rest of the fact is police's to record: without the clinical
		// text, the police command that refused it takes it.
		delete(req, hf.field)
		if _, err := rpc.Call[map[string]any, agency.Receipt](ctx, p.admin.Conn(), refusedBy[key(hf)][0], req); err != nil {
			t.Errorf("%s without %s: %v", refusedBy[key(hf)][0], hf.field, err)
		}
	}
	p.record(ep, p.caughtUp(ep))
	polView, _ := p.view(ep, events.Police, "call handler 2210")
	police, _ := json.Marshal(polView)
	for _, hf := range sent {
		text := "recorded under the trust: " + hf.spec.Name + " " + hf.field
		if strings.Contains(string(police), text) {
			t.Errorf("the police view shows %s of %s", hf.field, hf.spec.Name)
		}
		for _, a := range []events.Agency{events.AMHP, events.SPoA} {
			_, v := p.view(ep, a, "duty clinician")
			n := 0
			for _, c := range v.Clinical {
				if c.Text == text && c.Agency == events.SPoA {
					n++
				}
			}
			if n != 1 {
				t.Errorf("the %s view holds %s of %s, recorded by the trust, %d times; want once", a, hf.field, hf.spec.Name, n)
			}
		}
	}
	// The control-room mental health worker's advice, through the trust:
	// the call handler sees the advice and what it recommends, never the
	// health history; the AMHP service and SPoA see the history too.
	advice, history := "known to the crisis team; a nurse from street triage should go with officers", "emotionally unstable personality disorder; two overdoses this year"
	do[agency.AdviceRequest, agency.Receipt](p, events.SPoA, "triage.advice", agency.AdviceRequest{Base: base(ep, "control-room MH worker Amira"),
		TriageAdviceGiven: events.TriageAdviceGiven{Advice: advice, KnownToServices: true, HealthHistory: history, RecommendedAction: "street_triage"}})
	p.record(ep, p.caughtUp(ep))
	polView, _ = p.view(ep, events.Police, "call handler 2210")
	police, _ = json.Marshal(polView)
	if !strings.Contains(string(police), advice) || !strings.Contains(string(police), "triage advice: street_triage") {
		t.Errorf("the police view lacks the mental health worker's advice: %s", police)
	}
	if strings.Contains(string(police), history) || strings.Contains(string(police), `"clinical"`) {
		t.Error("the police view shows the health history")
	}
	for _, a := range []events.Agency{events.AMHP, events.SPoA} {
		view, _ := p.view(ep, a, "duty clinician")
		if raw, _ := json.Marshal(view); !strings.Contains(string(raw), history) || !strings.Contains(string(raw), advice) {
			t.Errorf("the %s view lacks the advice or the health history", a)
		}
	}
	for _, c := range p.record(ep, p.caughtUp(ep)).Clinical {
		if c.Agency == events.Police {
			t.Errorf("a %s note was recorded under police credentials", c.Kind)
		}
	}
}
