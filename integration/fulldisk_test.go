package integration

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// startIn runs crisisbus on a data directory of the caller's choosing.
func startIn(t *testing.T, dir string) *pathway {
	t.Helper()
	p := &pathway{t: t, dir: dir, clock: &clock{now: time.Date(2026, 11, 20, 22, 40, 0, 0, time.UTC)}}
	p.up()
	t.Cleanup(func() {
		if p.sys != nil {
			p.sys.Close()
		}
	})
	return p
}

// openEpisode is a police call handler opening an episode with a long
// account of the call, as the console sends it; the caller waits at most 5 s.
func openEpisode(p *pathway, n int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, p.admin.Conn(), agency.Subject(events.Police, "open"), agency.OpenRequest{
		Actor: "call handler 1123", Channel: "101", Location: "Chatham High Street", Reference: fmt.Sprintf("KENT-FILL-%05d", n),
		Summary: fmt.Sprintf("call %d: ", n) + strings.Repeat(fillText, 30),
		Person:  &events.PersonIdentified{GivenName: "Sam", FamilyName: fmt.Sprintf("Fill%05d", n), AgeYears: 40},
	})
	return resp.Episode, err
}

const fillText = "caller worried about her neighbour, who has not been seen for days and shouted from the window. "

// TestAFullDiskLosesNothingAcknowledged fills the disk under crisisbus's
// data directory with episodes opened through the police service, as a
// busy control room would, until it refuses them; then the operator deletes
// files of theirs on that disk. Publishing resumes without a restart, and
// every episode acknowledged (indeed every fact stored) is in the record,
// then and after a restart; the pathway then works as on any day.
func TestAFullDiskLosesNothingAcknowledged(t *testing.T) {
	disk := bustest.SmallDisk(t, "30m")
	// Files of the operator's on the same disk, which they delete to make room.
	ballast := filepath.Join(disk, "old-logs.tar")
	if err := os.WriteFile(ballast, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startIn(t, filepath.Join(disk, "crisisbus"))
	console := p.consoleURL()
	if alert := bannerOf(t, console); alert != "" {
		t.Fatalf("the console warns %q before the store is full", alert)
	}

	// Four call handlers open episodes until the bus has refused a dozen in a row.
	var (
		mu       sync.Mutex
		acked    []string
		refusals = map[string]int{}
		n        atomic.Int64
		inARow   atomic.Int64
	)
	began := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for inARow.Load() < 12 {
				ep, err := openEpisode(p, int(n.Add(1)))
				mu.Lock()
				if err == nil {
					acked = append(acked, ep)
					inARow.Store(0)
				} else {
					refusals[err.Error()]++
					inARow.Add(1)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(acked) < 100 {
		t.Fatalf("only %d episodes stored before the disk was full: the test filled nothing", len(acked))
	}
	t.Logf("%d episodes acknowledged in %s, then refused: %v", len(acked), time.Since(began).Round(time.Second), refusals)
	t.Logf("disk: %s", df(disk))
	var full broker.StoreStatus
	bustest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		if full = p.sys.Broker.StoreStatus(); !full.Full {
			return fmt.Errorf("the broker does not say the store is full: %+v", full)
		}
		return nil
	})
	t.Logf("the operator's log says: %s", full.Message)
	if alert := bannerOf(t, console); !strings.Contains(alert, "store is full") {
		t.Fatalf("the console's banner says %q while the store is full", alert)
	}

	// The operator makes room; nobody restarts anything.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	bustest.CheckFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		ep, err := openEpisode(p, int(n.Add(1)))
		if err == nil {
			acked = append(acked, ep)
		}
		return err
	})
	t.Logf("publishing resumed %s after space was freed, without a restart", time.Since(freed).Round(100*time.Millisecond))
	checkRecordHoldsEverything(t, p, acked)
	bustest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		if st := p.sys.Broker.StoreStatus(); st.Full {
			return fmt.Errorf("the broker still says the store is full: %+v", st)
		}
		if alert := bannerOf(t, console); alert != "" {
			return fmt.Errorf("the console still warns %q", alert)
		}
		return nil
	})
	// JetStream restarted with the store's key: what was written since is encrypted too.
	if files := bustest.FilesHolding(t, disk, fillText); len(files) > 0 {
		t.Fatalf("the store holds the calls' text in plain in %v", files)
	}

	p.restart()
	checkRecordHoldsEverything(t, p, acked)
	// A night's s136 pathway, as on any day.
	ep := detainedUnderS136(t, p, nil)
	p.record(ep, p.caughtUp(ep))
}

// consoleURL is where the running system's console listens.
func (p *pathway) consoleURL() string {
	p.t.Helper()
	u := p.sys.PageURL("console")
	if u == "" {
		p.t.Fatalf("no console among %v", p.sys.URLs)
	}
	return u
}

var bannerRE = regexp.MustCompile(`(?s)<div class="store-alert" role="alert"[^>]*>\s*<p><strong>(.*?)</strong>`)

// bannerOf is the store-full banner on the console's sign-in page ("" if none).
func bannerOf(t *testing.T, console string) string {
	t.Helper()
	resp, err := http.Get(console + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := bannerRE.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(string(m[1]))
}

func df(dir string) string {
	out, _ := exec.Command("df", "-h", "--output=size,used,avail", dir).CombinedOutput()
	return strings.Join(strings.Fields(string(out)), " ")
}

// checkRecordHoldsEverything waits until every acknowledged episode, indeed
// every episode with a fact in the stream, is in the record with every fact
// the stream holds of it.
func checkRecordHoldsEverything(t *testing.T, p *pathway, acked []string) {
	t.Helper()
	stored := map[string][]storedEvent{}
	_, err := p.admin.Replay(context.Background(), events.AllSubjects(), func(e events.Event, seq uint64) error {
		stored[e.Subject] = append(stored[e.Subject], storedEvent{e, seq})
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range acked {
		if len(stored[ep]) == 0 {
			t.Fatalf("episode %s was acknowledged but the stream has none of its facts", ep)
		}
	}
	bustest.CheckFor(t, 60*time.Second, 500*time.Millisecond, func() error {
		var errs []error
		for ep, want := range stored {
			v, _, ok, err := p.store.Get(context.Background(), ep)
			if err != nil {
				return err
			}
			if !ok {
				errs = append(errs, fmt.Errorf("episode %s is not in the record", ep))
				continue
			}
			if missing := missingFrom(v.Timeline, want); len(missing) > 0 {
				errs = append(errs, fmt.Errorf("episode %s lacks %v", ep, missing))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%d of %d episodes incomplete in the record, first: %w", len(errs), len(stored), errors.Join(errs[:min(3, len(errs))]...))
		}
		return nil
	})
	t.Logf("the record holds all %d episodes acknowledged and every fact of the %d episodes in the stream", len(acked), len(stored))
}
