package clock_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/clock"
)

func TestBadConfigurationIsRefusedNamingEachSetting(t *testing.T) {
	b := bustest.Start(t, "")
	_, err := clock.Start(t.Context(), bustest.Bus(t, b, events.Clock), clock.Config{
		Handoffs: map[events.HandoffKind]clock.HandoffTimes{
			events.SPoAReferral: {Acknowledge: time.Hour, Accept: 30 * time.Minute},
			events.TriageAdvice: {Acknowledge: 5 * time.Minute, Accept: 15 * time.Minute, Timing: clock.Timing{WarnBefore: 5 * time.Minute}},
		},
		FollowUp: clock.FollowUpTimes{Contacts: []time.Duration{24 * time.Hour, -time.Hour}},
	})
	if err == nil {
		t.Fatal("started with breach times that cannot work")
	}
	for _, want := range []string{"spoa_referral: time to accept 30m0s is before time to acknowledge 1h0m0s",
		"triage_advice: a warning 5m0s before a 5m0s time to acknowledge", "FollowUp.Contacts[1] must be positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestTheClockServicePublishesOnlyAsTheClock(t *testing.T) {
	b := bustest.Start(t, "")
	if _, err := clock.Start(t.Context(), bustest.Bus(t, b, events.Police), clock.Config{}); err == nil || !strings.Contains(err.Error(), `want "clock"`) {
		t.Fatalf("started on the police's bus: %v", err)
	}
}

// handoffKinds are the kinds of handoff the contract knows
// (schemas/v1/common.json's handoffKind).
func handoffKinds(t *testing.T) []events.HandoffKind {
	t.Helper()
	raw, err := os.ReadFile("../../schemas/v1/common.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Defs struct {
			HandoffKind struct {
				Enum []events.HandoffKind `json:"enum"`
			} `json:"handoffKind"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Defs.HandoffKind.Enum) == 0 {
		t.Fatalf("schemas/v1/common.json lists no handoff kinds: %v", err)
	}
	return doc.Defs.HandoffKind.Enum
}

// Every kind of handoff the contract knows has its breach times, so a new
// kind is not offered with no clock kept on it (the service would only log
// an error when the offer came).
func TestEveryHandoffKindHasDefaultBreachTimes(t *testing.T) {
	for _, k := range handoffKinds(t) {
		if _, ok := clock.DefaultHandoffTimes[k]; !ok {
			t.Errorf("handoff kind %s has no breach times: add it to DefaultHandoffTimes in services/clock/config.go", k)
		}
	}
}
