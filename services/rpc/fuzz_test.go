package rpc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/crisisline"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// decoders are real command and query requests, decoded exactly as an
// endpoint decodes them before its handler runs.
var decoders = []func(data []byte) error{
	roundTrip[agency.OpenRequest],
	roundTrip[agency.IdentifyRequest],
	roundTrip[agency.OfferRequest],
	roundTrip[agency.DeclineRequest],
	roundTrip[police.DetainRequest],
	roundTrip[police.ArriveRequest],
	roundTrip[amhp.ExtendRequest],
	roundTrip[amhp.OutcomeRequest],
	roundTrip[crisisline.ContactRequest],
	roundTrip[record.ViewRequest],
}

// roundTrip decodes data as a Req; a request accepted must say the same
// once encoded again (what the handler acts on is what was sent).
func roundTrip[Req any](data []byte) error {
	req, err := rpc.Decode[Req]("crisisbus.fuzz", data)
	if err != nil {
		if rpc.CodeOf(err) != rpc.BadRequest {
			panic("a request that does not decode is not a 400: " + err.Error())
		}
		return nil
	}
	again, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_, err = rpc.Decode[Req]("crisisbus.fuzz", again)
	return err
}

// FuzzDecodeRequest feeds arbitrary bytes to the decoding every command and
// query goes through. Whatever the input: no panic, a refusal is a 400, and
// a request accepted decodes again once encoded. Seeds: testdata/fuzz/FuzzDecodeRequest.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"actor":"call handler","channel":"999","summary":"man on the bridge"}`,
		`{"episode":"5b0f9d4e-8a51-4c4e-9d0e-2f1c3a7b6e01","actor":"PC 1","detainedAt":"2026-11-20T02:15:00Z","locationType":"public_place","ageYears":34}`,
		`{"episode":"e","actor":"a","person":{"ageYears":3.4e1}}`,
		`{"episode":"e","actor":"a"} {"episode":"f"}`,
		`{"episode":"e","viewer":"v","purpose":"p","after":"\ud800"}`,
		`not json`,
		``,
	} {
		for i := range decoders {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		if err := decoders[int(which)%len(decoders)](data); err != nil {
			t.Fatalf("accepted, then refused once encoded again: %v", err)
		}
	})
}

// A command request is refused with 400 and a reason before any handler
// runs: not JSON, an unknown field, a second value after the first, or
// what the request's own Validate names.
func TestDecodeRefusesABadRequestSayingWhy(t *testing.T) {
	for _, c := range []struct{ body, says string }{
		{`not json`, "invalid character"},
		{`{"episode":"e","actor":"a","diagnosis":"x"}`, `unknown field "diagnosis"`},
		{`{"episode":"e","actor":"a"} {"episode":"f","actor":"b"}`, "more than one JSON value"},
		{`{"episode":"e"}`, "actor is required"},
	} {
		_, err := rpc.Decode[agency.CloseRequest]("crisisbus.police.close", []byte(c.body))
		if err == nil || rpc.CodeOf(err) != rpc.BadRequest || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want 400 saying %q", c.body, err, c.says)
		}
	}
	req, err := rpc.Decode[agency.CloseRequest]("crisisbus.police.close", []byte(`{"episode":"e","actor":"a","reason":"resolved"}`+"\n"))
	if err != nil || req.Episode != "e" {
		t.Fatalf("a good request: %+v, %v", req, err)
	}
}
