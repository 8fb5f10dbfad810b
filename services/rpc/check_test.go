package rpc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// Check finds an over-long id or agency wherever it is in the request, and
// says which field and what limit; a good request passes.
func TestCheckNamesTheFieldAndTheLimitWhereverItIs(t *testing.T) {
	long := strings.Repeat("a", 5000)
	ep := "0b9f1c1e-4f5a-4c59-9a51-0d4c2f7d8e11"
	for _, c := range []struct {
		subject, body, says string
	}{
		{"crisisbus.police.open", openBody(t), ""},
		{"crisisbus.amhp.voice", `{"episode":"` + long + `","actor":"AMHP"}`, "bad request to crisisbus.amhp.voice: episode is too long: 5000 characters, at most 64"},
		{"crisisbus.amhp.link", `{"episode":"` + ep + `","link":{"otherEpisode":"` + long + `"}}`, "otherEpisode is too long"},
		{"crisisbus.amhp.x", `[{"handoffId":"a.b"}]`, "handoffId must be an id of letters, digits"},
		{"crisisbus.police.handoff.offer", `{"episode":"` + ep + `","to":"amhp>"}`, "to must be one subject token"},
		{"crisisbus.amhp.voice", `{"episode":"` + ep + `","ownWords":"` + strings.Repeat("x", rpc.MaxRequestBytes) + `"}`, "the body is too large: 262208 bytes, at most 262144"},
		{"crisisbus.amhp." + long, `{}`, "subject is too long: 5015 characters, at most 512"},
		{"crisisbus.amhp.voice", `not json`, ""}, // left to Decode, which says what is wrong with it
	} {
		err := rpc.Check(c.subject, []byte(c.body))
		if c.says == "" {
			if err != nil {
				t.Errorf("%.60s: refused: %v", c.body, err)
			}
			continue
		}
		if err == nil || rpc.CodeOf(err) != rpc.BadRequest || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%.60s: %v, want a 400 saying %q", c.body, err, c.says)
		}
	}
}

func openBody(t testing.TB) string {
	b, err := json.Marshal(agency.OpenRequest{Actor: "call handler 1123", Channel: "999", Summary: "man standing on the outside of the bridge railing",
		Location: "Medway Bridge, Rochester", Person: &events.PersonIdentified{GivenName: "Daniel", FamilyName: "Reed", DateOfBirth: "1992-03-14", Phone: "07700900123"},
		Voice: &events.PersonVoiceRecorded{OwnWords: strings.Repeat("Don't take me to A&E. Ring my sister Jo. ", 20), CrisisPlan: "quiet room, talk to Jo"}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// What the check adds to each request, in the client and again in the
// service: one more decoding of the body.
func BenchmarkCheckOpenRequest(b *testing.B) {
	body := []byte(openBody(b))
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := rpc.Check("crisisbus.police.open", body); err != nil {
			b.Fatal(err)
		}
	}
}
