package rights_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// startSystemLogged is startSystem with what the services log at warning
// and above kept for the test to read.
func startSystemLogged(t *testing.T) (context.Context, *system.System, *observer.ObservedLogs) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	core, logs := observer.New(zapcore.WarnLevel)
	log := zap.New(zapcore.NewTee(bustest.Logger().Core(), core))
	sys, err := system.Start(ctx, system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	return ctx, sys, logs
}

// holdBatchesOpen opens n atomic batches on the event stream as c, none
// ever committed, and keeps each open (a message more every 2 s, as long
// as the server lets a batch grow) until the test ends.
func holdBatchesOpen(t *testing.T, c *client, n int) {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	send := func(seq int) {
		for _, id := range ids {
			m := nats.NewMsg("crisis." + c.user + "." + events.NewEpisodeID() + ".note_v1")
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(seq))
			m.Data = []byte(`{}`)
			_ = c.nc.PublishMsg(m)
		}
		_ = c.nc.Flush()
	}
	send(1)
	done := make(chan struct{})
	stopped := make(chan struct{})
	t.Cleanup(func() { close(done); <-stopped })
	go func() {
		defer close(stopped)
		for seq := 2; seq < natsbus.MaxBatch; seq++ {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Second):
				send(seq)
			}
		}
	}()
}

// A police user can open atomic batches on the event stream (a batch is
// messages on its own subjects with the batch's headers, which no
// permission can tell apart) and leave them open, until the server has as
// many in flight as it takes. Another agency's command deciding more than
// one fact (here SPoA opening an episode with who the person is and their
// own words) must still be recorded: its facts go one after another, and
// the service says why in words. Before, the server's refusal of the
// batch's first fact went unheard, and the command failed with "atomic
// publish batch is incomplete".
func TestACommandIsRecordedWhileAnotherAgencyHoldsEveryBatchOpen(t *testing.T) {
	ctx, sys, logs := startSystemLogged(t)
	police := dial(t, sys, string(events.Police))
	holdBatchesOpen(t, police, 60) // more than the server takes (50 a stream)

	spoa := dial(t, sys, string(events.SPoA))
	opened, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, spoa.nc, agency.Subject(events.SPoA, "open"), agency.OpenRequest{
		Actor: "SPoA clinician 2", Channel: "111", Summary: "a person in crisis calling from home",
		Person: &events.PersonIdentified{GivenName: "Dan", FamilyName: "Kerr", AgeYears: 30},
		Voice:  &events.PersonVoiceRecorded{OwnWords: "I want my sister told"},
	})
	if err != nil {
		t.Fatalf("SPoA opening an episode with who the person is, while police hold every batch open: %v", err)
	}
	if n := len(opened.Receipt.Events); n != 3 {
		t.Fatalf("the open recorded %d facts, want 3 (opened, who the person is, their own words): %v", n, opened.Receipt.Events)
	}
	admin := dial(t, sys, rights.Admin)
	bus, err := natsbus.NewBus(admin.nc, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	if _, err := bus.Replay(ctx, events.EpisodeSubjects(opened.Episode), func(e events.Event, _ uint64) error {
		stored = append(stored, e.ID)
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("the stream holds %v of episode %s, want the 3 facts %v", stored, opened.Episode, opened.Receipt.Events)
	}
	said := logs.FilterMessageSnippet("one after another").FilterField(zap.String("episode", opened.Episode)).All()
	if len(said) == 0 {
		t.Fatal("the SPoA service did not say that its facts went one after another")
	}
	if why, _ := said[0].ContextMap()["why"].(string); !strings.Contains(why, "batches an agency's user opened and left open") {
		t.Fatalf("the SPoA service logged %q with why %q, want it to say batches were left open", said[0].Message, why)
	}
}

// A batch is stored all or none, and each of its messages is checked
// against its user's permissions as it arrives: a police batch with a
// message on SPoA's subjects among its own loses that message to the
// server's refusal, its commit is refused as incomplete, and nothing of
// the batch is stored, police's own messages included.
func TestABatchWithAnotherAgencysMessageStoresNothing(t *testing.T) {
	ctx, sys := startSystem(t)
	police := dial(t, sys, string(events.Police))
	ep := events.NewEpisodeID()
	theirs := "crisis.spoa." + ep + ".person_voice_recorded_v1"
	id := uuid.NewString()
	var answer *nats.Msg
	for i, subj := range []string{"crisis.police." + ep + ".note_v1", theirs, "crisis.police." + ep + ".note_v1"} {
		m := nats.NewMsg(subj)
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		m.Data = []byte(`{}`)
		if i < 2 {
			if err := police.nc.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		var err error
		if answer, err = police.nc.RequestMsgWithContext(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := police.refused(theirs); err != nil {
		t.Errorf("police publishing on SPoA's subject inside a batch: %v", err)
	}
	if !strings.Contains(string(answer.Data), `"error"`) {
		t.Errorf("the batch's commit was answered %s, want it refused", answer.Data)
	}
	admin := dial(t, sys, rights.Admin)
	js, err := natsbus.NewJetStream(admin.nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(events.EpisodeSubjects(ep)))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.State.Subjects) != 0 {
		t.Fatalf("the stream holds %v of the refused batch", info.State.Subjects)
	}
}
