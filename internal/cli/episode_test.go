package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The control room opens an episode through the running system's police
// service and its mental health worker advises through the trust's;
// `crisisbus episode show` prints the police view without the health
// history, and the AMHP view with it.
func TestEpisodeShowPrintsEachAgencysOwnView(t *testing.T) {
	dir := t.TempDir()
	url, _ := startUp(t, dir)
	creds, err := broker.LoadCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := broker.ConnectAs(url, creds, events.Police)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	open, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, nc, agency.Subject(events.Police, "open"), agency.OpenRequest{
		Actor: "call handler 1123", Channel: "999", Summary: "man on the bridge",
		Voice: &events.PersonVoiceRecorded{OwnWords: "ring my sister Jo", WhoToContact: "Jo 07700900456"}})
	if err != nil {
		t.Fatal(err)
	}
	// The control-room mental health worker is the trust's: their advice,
	// with its health history, is recorded through the trust's service.
	trust, err := broker.ConnectAs(url, creds, events.SPoA)
	if err != nil {
		t.Fatal(err)
	}
	defer trust.Close()
	if _, err := rpc.Call[agency.AdviceRequest, agency.Receipt](ctx, trust, agency.Subject(events.SPoA, "triage.advice"), agency.AdviceRequest{
		Base: agency.Base{Episode: open.Episode, Actor: "MH worker"}, TriageAdviceGiven: events.TriageAdviceGiven{
			Advice: "consider s136", HealthHistory: "bipolar disorder; lithium", RecommendedAction: "consider_s136"}}); err != nil {
		t.Fatal(err)
	}

	var out string
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		code, o, e := run("episode", "show", open.Episode, "--as", "amhp", "--data", dir, "--nats", url, "--viewer", "AMHP Jo", "--reason", "offered the assessment by phone")
		if code != 0 || !strings.Contains(o, "bipolar disorder; lithium") {
			return fmt.Errorf("exit %d: %s%s", code, o, e)
		}
		out = o
		return nil
	})
	if !strings.Contains(out, `own words:    "ring my sister Jo"`) || !strings.Contains(out, "owner:        Police control room (open)") {
		t.Fatalf("AMHP view:\n%s", out)
	}
	code, out, errOut := run("episode", "show", "--as", "police", "--data", dir, "--nats", url, open.Episode)
	if code != 0 || strings.Contains(out, "bipolar") || !strings.Contains(out, "Jo 07700900456") || !strings.Contains(out, "recorded as") {
		t.Fatalf("police view (exit %d) shows health history or lacks the contact:\n%s%s", code, out, errOut)
	}
	if code, _, errOut := run("episode", "show", open.Episode, "--as", "clock", "--data", dir, "--nats", url); code != 2 || !strings.Contains(errOut, "--as") {
		t.Fatalf("--as clock exited %d: %s", code, errOut)
	}
	// The same commands from the command line: a refusal names the law.
	code, out, errOut = run("call", "police", "s136.detain", `{"episode":"`+open.Episode+`","actor":"PC 1","detainedAt":"2026-11-20T23:00:00Z","locationType":"private_dwelling","ageYears":30}`,
		"--data", dir, "--nats", url)
	if code != 1 || !strings.Contains(errOut, "refused (403)") || !strings.Contains(errOut, "s136(1)") {
		t.Fatalf("call s136.detain at a dwelling exited %d: %s%s", code, out, errOut)
	}
	code, out, errOut = run("call", "police", "s136.consult", `{"episode":"`+open.Episode+`","actor":"PC 1","practicable":true,"professional":"nurse","advice":"detain"}`,
		"--data", dir, "--nats", url)
	if code != 0 || !strings.Contains(out, `"sequence"`) {
		t.Fatalf("call s136.consult exited %d: %s%s", code, out, errOut)
	}
	if code, _, errOut := run("episode", "show", events.NewEpisodeID(), "--as", "police", "--data", dir, "--nats", url); code != 1 || !strings.Contains(errOut, "unknown episode") {
		t.Fatalf("unknown episode exited %d: %s", code, errOut)
	}
}
