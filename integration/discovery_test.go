package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// The record and the five agency services answer NATS service discovery
// ($SRV.INFO), listing their command subjects, so an integrator finds them
// with `nats micro ls` and `nats micro info crisisbus-police`.
func TestEveryServiceIsDiscoverableWithItsCommands(t *testing.T) {
	p := start(t)
	nc := p.admin.Conn()
	var found map[string][]string
	// Ask again on each try: under load a reply may come late, and a fresh
	// question gathers every service's answer afresh.
	bustest.CheckFor(t, 15*time.Second, time.Millisecond, func() error {
		found = map[string][]string{}
		inbox := nc.NewRespInbox()
		sub, err := nc.SubscribeSync(inbox)
		if err != nil {
			return err
		}
		defer sub.Unsubscribe()
		if err := nc.PublishRequest("$SRV.INFO", inbox, nil); err != nil {
			return err
		}
		for {
			m, err := sub.NextMsg(300 * time.Millisecond)
			if err != nil {
				break
			}
			var info micro.Info
			if err := json.Unmarshal(m.Data, &info); err != nil {
				return err
			}
			for _, e := range info.Endpoints {
				found[info.Name] = append(found[info.Name], e.Subject)
			}
		}
		var names []string
		for n := range found {
			names = append(names, n)
		}
		sort.Strings(names)
		want := []string{"crisisbus-record"}
		for _, a := range events.Agencies {
			want = append(want, "crisisbus-"+string(a))
		}
		sort.Strings(want)
		if !slices.Equal(names, want) {
			return fmt.Errorf("services found: %v, want %v", names, want)
		}
		return nil
	})
	for svc, subj := range map[string]string{"crisisbus-police": "crisisbus.police.s136.detain", "crisisbus-amhp": "crisisbus.amhp.outcome",
		"crisisbus-record": "crisisbus.record.police.view", "crisisbus-spoa": "crisisbus.spoa.handoff.accept"} {
		if !slices.Contains(found[svc], subj) {
			t.Errorf("%s does not list %s: %v", svc, subj, found[svc])
		}
	}
}
