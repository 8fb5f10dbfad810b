package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/cli"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/ambulance"
)

// ambulanceCall opens an episode from a 999 call and records the triage.
func ambulanceCall(p *pathway, i int) string {
	ep := do[agency.OpenRequest, agency.OpenResponse](p, events.Ambulance, "open", agency.OpenRequest{
		Actor: "EOC call handler 77", Channel: "999", Summary: fmt.Sprintf("caller %d hears voices telling him to hurt himself", i),
		Location: "Chatham", Reference: fmt.Sprintf("SECAMB-%d", 4471000+i),
	}).Episode
	do[ambulance.CallRequest, agency.Receipt](p, events.Ambulance, "call.triage", ambulance.CallRequest{Base: base(ep, "EOC clinician Dev"),
		AmbulanceCallTriaged: events.AmbulanceCallTriaged{Response: "hear_and_treat", MentalHealthWorkerInvolved: true, Notes: "no injuries"}})
	return ep
}

// ambulanceCalls opens n episodes with ambulanceCall, each in the record.
func ambulanceCalls(p *pathway, n int) []string {
	var eps []string
	for i := range n {
		ep := ambulanceCall(p, i)
		p.record(ep, p.caughtUp(ep))
		eps = append(eps, ep)
	}
	return eps
}

// A disk changes twenty bytes of the event stream while crisisbus is
// stopped: `crisisbus up` refuses to start naming the damaged file and the
// command that recovers; `crisisbus repair` keeps every other event; up
// again, the record shows what the stream holds and the work goes on.
func TestADamagedStoreIsNamedAtStartAndRepairKeepsEveryIntactEvent(t *testing.T) {
	p := start(t)
	eps := ambulanceCalls(p, 12)
	before := map[string]uint64{} // event id → sequence
	byEpisode := map[string][]string{}
	for _, ep := range eps {
		for _, e := range p.stored(ep) {
			before[e.ID] = e.seq
			byEpisode[ep] = append(byEpisode[ep], e.ID)
		}
	}
	p.sys.Close()
	p.sys = nil

	block := filepath.Join(broker.StoreDir(p.dir), "jetstream", "$G", "streams", natsbus.Stream, "msgs", "1.blk")
	flipTwentyBytes(t, block)

	_, err := system.Start(context.Background(), system.Config{DataDir: p.dir, Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	var de *broker.DamagedStoreError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), block) || !strings.Contains(err.Error(), "crisisbus repair --data "+p.dir) {
		t.Fatalf("up on a damaged store: %v; want the block file %s and the repair command named", err, block)
	}

	var out, errOut bytes.Buffer
	if code := cli.Run(context.Background(), []string{"repair", "--data", p.dir}, nil, &out, &errOut); code != 0 {
		t.Fatalf("crisisbus repair exited %d: %s", code, errOut.String())
	}
	t.Logf("crisisbus repair: %s", out.String())
	lost := map[uint64]bool{}
	for _, d := range de.Damage {
		for _, s := range d.Lost {
			lost[s] = true
		}
	}
	if len(lost) == 0 || len(lost) > 2 || !strings.Contains(out.String(), "lost sequences") {
		t.Fatalf("twenty damaged bytes lost sequences %v; repair said %q", lost, out.String())
	}

	p.up()
	after := map[string]bool{}
	for _, ep := range eps {
		for _, e := range p.stored(ep) {
			after[e.ID] = true
		}
	}
	for id, seq := range before {
		if after[id] == lost[seq] {
			t.Errorf("event %s at sequence %d: stored after the repair %v, in the damaged stretch %v", id, seq, after[id], lost[seq])
		}
	}
	// The record is rebuilt from what the stream holds: no lost event in it.
	for _, ep := range eps {
		if len(p.stored(ep)) == 0 {
			continue
		}
		v := p.record(ep, p.caughtUp(ep))
		for _, en := range v.Timeline {
			if seq, ok := before[en.EventID]; ok && lost[seq] {
				t.Errorf("episode %s's record still shows the lost event %s", ep, en.EventID)
			}
		}
	}
	// Work goes on: a new call, and more on an episode kept whole.
	ep := ambulanceCall(p, 99)
	p.record(ep, p.caughtUp(ep))
	for _, kept := range eps {
		whole := true
		for _, id := range byEpisode[kept] {
			whole = whole && after[id]
		}
		if whole {
			do[agency.AdviceRequest, agency.Receipt](p, events.Ambulance, "triage.advice", agency.AdviceRequest{Base: base(kept, "EOC MH worker Kay"),
				TriageAdviceGiven: events.TriageAdviceGiven{Advice: "urgent crisis team assessment at home", RecommendedAction: "refer_spoa"}})
			p.record(kept, p.caughtUp(kept))
			break
		}
	}
}

// The machine stops without warning while the record writes its views,
// which it writes without waiting for the disk: the views bucket's block is
// left with twenty bytes that do not match their hash. crisisbus starts all
// the same, saying in its log what it dropped, and the record rebuilds
// every episode's view from the event stream, which lost nothing.
func TestADamagedViewsBucketIsDroppedAtStartAndRebuiltFromTheStream(t *testing.T) {
	p := start(t)
	eps := ambulanceCalls(p, 12)
	p.sys.Close()
	p.sys = nil

	block := filepath.Join(broker.StoreDir(p.dir), "jetstream", "$G", "streams", "KV_"+rights.EpisodesBucket, "msgs", "1.blk")
	flipTwentyBytes(t, block)

	core, logs := observer.New(zap.InfoLevel)
	p.log = zap.New(core)
	p.up()
	dropped := logs.FilterMessageSnippet("dropped its damaged part").All()
	if len(dropped) != 1 || dropped[0].ContextMap()["file"] != block {
		t.Fatalf("the log says of the damaged views %v, want the block %s named once", dropped, block)
	}
	for _, ep := range eps {
		p.record(ep, p.caughtUp(ep))
	}
	if n := logs.FilterMessageSnippet("the record had missed a fact").Len(); n == 0 {
		t.Errorf("the record rebuilt no view: the damage took none")
	}
}

// flipTwentyBytes changes twenty bytes in the middle of a block file, as a
// disk or a stop in mid-write might.
func flipTwentyBytes(t *testing.T, block string) {
	t.Helper()
	b, err := os.ReadFile(block)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b[len(b)/2+i] ^= 0xff
	}
	if err := os.WriteFile(block, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
