package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// What a person submits about someone in crisis (an NHS number, a date of
// birth, what is happening to them) goes back to them in a refusal, and is
// stored (encrypted) when accepted, but never reaches the operators' logs.
func TestLogsNeverHoldAnNHSNumberADateOfBirthOrClinicalText(t *testing.T) {
	const (
		badNHS   = "9434765918" // check digit wrong
		goodNHS  = "9434765919"
		dob      = "1978-03-14"
		badDOB   = "14/03/1978"
		clinical = "took forty paracetamol after hearing voices say his daughter is dead"
	)
	core, logs := observer.New(zapcore.DebugLevel)
	sys, err := system.Start(t.Context(), system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: zap.New(core)})
	if err != nil {
		t.Fatalf("start crisisbus: %v", err)
	}
	defer sys.Close()
	admin, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	nc := admin.Conn()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	open := func(p events.PersonIdentified) (agency.OpenResponse, error) {
		return rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, nc, agency.Subject(events.Police, "open"), agency.OpenRequest{
			Actor: "call handler", Channel: "999", Summary: clinical, Person: &p,
			Voice: &events.PersonVoiceRecorded{OwnWords: clinical}})
	}
	refusedWith := func(what string, err error, code int) {
		t.Helper()
		var re *rpc.Error
		if !errors.As(err, &re) || re.Code != code {
			t.Fatalf("%s: got %v, want a refusal with %d", what, err, code)
		}
	}

	// Refused: an NHS number whose check digit is wrong, a date of birth
	// not written as the contract says.
	_, err = open(events.PersonIdentified{NHSNumber: badNHS, DateOfBirth: dob, GivenName: "Alan"})
	refusedWith("a wrong NHS number", err, rpc.BadRequest)
	_, err = open(events.PersonIdentified{NHSNumber: goodNHS, DateOfBirth: badDOB, GivenName: "Alan"})
	refusedWith("a date of birth written 14/03/1978", err, rpc.BadRequest)
	// A request that does not decode, with the values in it.
	msg, err := nc.RequestWithContext(ctx, agency.Subject(events.Police, "open"),
		fmt.Appendf(nil, `{"actor": "call handler", "channel": "999", "summary": %q, "person": {"nhsNumber": %s, "dateOfBirth": %q}}`, clinical, goodNHS, dob))
	if err != nil || msg.Header.Get("Nats-Service-Error-Code") != "400" {
		t.Fatalf("undecodable request: %v %v, want a 400 refusal", err, msg.Header)
	}

	// Accepted, then refused by the episode's state: the values are in the
	// stored events the services consume.
	opened, err := open(events.PersonIdentified{NHSNumber: goodNHS, DateOfBirth: dob, GivenName: "Alan"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	_, err = rpc.Call[agency.HandoffRequest, agency.Receipt](ctx, nc, agency.Subject(events.AMHP, "handoff.accept"), agency.HandoffRequest{
		Base: agency.Base{Episode: opened.Episode, Actor: "AMHP Jo"}, HandoffID: "00000000-0000-4000-8000-000000000000"})
	if err == nil {
		t.Fatal("accepting a handoff never offered was not refused")
	}
	// Let the consumers (audit log, record, clocks) handle what was stored.
	time.Sleep(2 * time.Second)

	if logs.Len() == 0 {
		t.Fatal("nothing was logged: this test proves nothing")
	}
	refusals := 0
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, secret := range []string{badNHS, goodNHS, dob, badDOB, "paracetamol", "voices", "daughter"} {
			if strings.Contains(line, secret) {
				t.Errorf("a log line holds %q: %s", secret, line)
			}
		}
		if e.Message == "refused" {
			refusals++
			if _, ok := e.ContextMap()["code"]; !ok {
				t.Errorf("a refusal is logged without its code: %s", line)
			}
		}
	}
	if refusals < 4 {
		t.Errorf("%d refusals logged, want the 4 (an operator still sees them)", refusals)
	}
}
