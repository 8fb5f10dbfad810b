package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// TestAFullDiskRefusesACommandWholeInWords: the disk under the store is
// full when a call handler opens an episode with who the person is and
// their own words (three facts, one batch). The call handler is told, in
// words, that crisisbus cannot do it just now (503) and nothing of the
// command is stored; the log says why in words. Once room is made the same
// command is stored whole.
func TestAFullDiskRefusesACommandWholeInWords(t *testing.T) {
	disk := bustest.SmallDisk(t, "30m")
	core, logs := observer.New(zapcore.WarnLevel)
	p := &pathway{t: t, dir: filepath.Join(disk, "crisisbus"), clock: &clock{now: time.Date(2026, 11, 20, 22, 40, 0, 0, time.UTC)}, log: zap.New(core)}
	p.up()
	t.Cleanup(func() {
		if p.sys != nil {
			p.sys.Close()
		}
	})
	// Files of the operator's take the disk's room.
	var st syscall.Statfs_t
	if err := syscall.Statfs(disk, &st); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(disk, "old-logs.tar")
	if err := os.WriteFile(ballast, make([]byte, int64(st.Bavail)*int64(st.Bsize)-256<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	bustest.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		if s := p.sys.Broker.StoreStatus(); !s.Full {
			return fmt.Errorf("the broker does not say the store is full: %+v", s)
		}
		return nil
	})
	msgs := func() uint64 {
		t.Helper()
		s, err := p.admin.JetStream().Stream(t.Context(), natsbus.Stream)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().State.Msgs
	}
	before := msgs()
	open := func() (agency.OpenResponse, time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		began := time.Now()
		resp, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, p.admin.Conn(), agency.Subject(events.Police, "open"), agency.OpenRequest{
			Actor: "call handler 1123", Channel: "101", Location: "Chatham High Street", Reference: "KENT-FULL-00001",
			Summary: "caller worried about her neighbour, who shouted from the window",
			Person:  &events.PersonIdentified{GivenName: "Sam", FamilyName: "Fuller", AgeYears: 40},
			Voice:   &events.PersonVoiceRecorded{OwnWords: "I just need someone to listen tonight"},
		})
		return resp, time.Since(began), err
	}
	_, took, err := open()
	t.Logf("the call handler was answered in %s: %v", took.Round(time.Millisecond), err)
	var re *rpc.Error
	if !errors.As(err, &re) || re.Code != rpc.Unavailable {
		t.Fatalf("opening an episode on a full store: got %v, want a %d", err, rpc.Unavailable)
	}
	if !strings.Contains(re.Message, "store is full") {
		t.Errorf("the call handler was told %q, which does not say the store is full", re.Message)
	}
	if n := msgs(); n != before {
		t.Fatalf("the command was refused, yet the stream holds %d messages, %d before", n, before)
	}
	refused := logs.FilterMessage("refused").All()
	if len(refused) == 0 {
		t.Error("the refusal was not logged")
	}
	for _, l := range refused {
		reason, _ := l.ContextMap()["reason"].(string)
		t.Logf("the log says: refused: %s", reason)
		if !strings.Contains(reason, "insufficient resources") {
			t.Errorf("the log's reason %q does not say in words that the store lacks room", reason)
		}
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	var resp agency.OpenResponse
	bustest.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		resp, _, err = open()
		return err
	})
	if n := len(resp.Receipt.Events); n != 3 {
		t.Fatalf("the open stored %v, want the episode, the person and their words", resp.Receipt.Events)
	}
	if n := msgs(); n != before+3 {
		t.Fatalf("the stream holds %d messages, want the %d before and the command's 3", n, before)
	}
}
