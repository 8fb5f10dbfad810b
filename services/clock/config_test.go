package clock_test

import (
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
