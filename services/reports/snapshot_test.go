package reports_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/reports"
	"github.com/crisisbus/crisisbus/services/reports/reportgen"
)

// snapRange is the year the test data falls in, reported as of a fixed
// time so detentions not recorded as ended count the same in every run.
var snapRange = reports.Range{From: reports.MonthFor(2016, time.January), To: reports.MonthFor(2016, time.December),
	AsOf: time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC)}

// pathway is a year of detentions, street triage, safe haven visits and
// police contacts, cut in two: each episode's first events, then the rest
// (the ends of detentions, extensions, follow-up, visits' ends, the
// haven's acceptance or the detention that decides how a police contact
// ended), so that what is stored after a snapshot changes what was counted
// before it.
func pathway(t *testing.T, seed uint64, n int) (before, after []events.Event) {
	t.Helper()
	g := reportgen.New(seed)
	for i := range n {
		m := snapRange.From + reports.Month(i%12)
		var evs []events.Event
		switch i % 7 {
		case 0:
			evs = g.StreetTriage(g.InMonth(m), i%4 == 0)
		case 2: // police contact: street triage advise the haven, police refer, the haven accepts; for some a detention follows
			ep, at := events.NewEpisodeID(), g.InMonth(m)
			id := events.NewEpisodeID()
			for _, f := range []struct {
				src  events.Agency
				data any
			}{
				{events.Police, events.EpisodeOpened{Channel: "999", Summary: "man on the harbour wall"}},
				{events.Police, events.StreetTriageOutcome{S136Avoided: true, Outcome: "safe_haven"}},
				{events.Police, events.HandoffOffered{HandoffID: id, Kind: events.SafeHavenReferral, To: events.SafeHaven, Reason: "the haven instead of s136",
					Urgency: "urgent", Summary: events.Summary{Facts: []events.Fact{}}}},
				{events.SafeHaven, events.HandoffAccepted{HandoffID: id, AcceptedBy: "Robin Hale"}},
				{events.Police, events.S136Detained{DetainedAt: at, LocationType: "public_place", AgeYears: 44, Consulted: true}},
			}[:4+i%2] {
				opts := []events.Option{events.At(at)}
				if f.src == events.SafeHaven { // the acceptance answers police
					opts = append(opts, events.To(events.Police))
				}
				e, err := events.New(f.src, ep, f.data, opts...)
				if err != nil {
					t.Fatal(err)
				}
				evs = append(evs, e)
			}
		case 1:
			ep, at := events.NewEpisodeID(), g.InMonth(m)
			for _, data := range []any{
				events.HavenArrived{How: []string{"walked_in", "brought_by_police", "referred"}[i%3], Haven: "haven-margate", ArrivedAt: at, Taken: true},
				events.HavenLeft{Outcome: "went_home", LeftAt: at.Add(2 * time.Hour)},
			} {
				e, err := events.New(events.SafeHaven, ep, data, events.At(at))
				if err != nil {
					t.Fatal(err)
				}
				evs = append(evs, e)
			}
		default:
			evs = g.Detention(g.RandomDetention(g.InMonth(m), reportgen.Outcomes[i%len(reportgen.Outcomes)]))
		}
		cut := max(1, len(evs)-1-i%3)
		before, after = append(before, evs[:cut]...), append(after, evs[cut:]...)
	}
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	return before, after
}

func docs(t *testing.T, evs []events.Event) [][]byte {
	t.Helper()
	var out [][]byte
	for _, e := range evs {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

func publishAll(t *testing.T, bus *natsbus.Bus, evs []events.Event) {
	t.Helper()
	for _, r := range bus.PublishBatchRaw(context.Background(), docs(t, evs)) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// storeAgain stores events a second time without their message id, as an
// import run again after the stream's duplicate window would.
func storeAgain(t *testing.T, nc *nats.Conn, evs []events.Event) {
	t.Helper()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	for i, raw := range docs(t, evs) {
		subj, err := events.Subject(evs[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(context.Background(), subj, raw); err != nil {
			t.Fatal(err)
		}
	}
}

// everything is every table over the range, in CSV, and what the
// projection set aside.
func everything(t *testing.T, p *reports.Projection) string {
	t.Helper()
	var b strings.Builder
	for _, tab := range p.All(snapRange) {
		if err := reports.Write(&b, tab, "csv"); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(&b, "counted %d, duplicates %d, skipped %v\n", p.Applied(), p.Duplicates(), p.Skipped())
	return b.String()
}

func streamLast(t *testing.T, bus *natsbus.Bus) uint64 {
	t.Helper()
	st, err := bus.JetStream().Stream(context.Background(), natsbus.Stream)
	if err != nil {
		t.Fatal(err)
	}
	return st.CachedInfo().State.LastSeq
}

// consoleService starts the report page's Service as the console does,
// connected as the console's user, and waits until it has applied every
// event stored so far.
func consoleService(t *testing.T, b *broker.Broker, admin *natsbus.Bus) *reports.Service {
	t.Helper()
	cbus, err := natsbus.NewBus(bustest.Conn(t, b, events.Agency(rights.Console)), "", bustest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	svc := reports.Start(context.Background(), cbus, bustest.Logger())
	t.Cleanup(svc.Stop)
	caughtUp(t, svc, admin)
	return svc
}

func caughtUp(t *testing.T, svc *reports.Service, admin *natsbus.Bus) {
	t.Helper()
	want := streamLast(t, admin)
	bustest.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		if got := svc.Projection().Last(); got != want {
			return fmt.Errorf("the console's projection holds through sequence %d of %d", got, want)
		}
		return nil
	})
}

func mustRebuild(t *testing.T, bus *natsbus.Bus) string {
	t.Helper()
	p, err := reports.Rebuild(context.Background(), bus)
	if err != nil {
		t.Fatal(err)
	}
	return everything(t, p)
}

// The report from the console's snapshot and the events stored after it
// is the report rebuilt from the whole stream: with ends of detentions,
// extensions and visits' ends stored after the snapshot for episodes it
// counted, events stored twice on either side of it, and a misfiled
// message. The console started again starts from its snapshot and counts
// the same.
func TestReportFromSnapshotAndTailEqualsRebuild(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	adminNC := bustest.Conn(t, b, "")
	admin, err := natsbus.NewBus(adminNC, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, after := pathway(t, 11, 240)
	publishAll(t, admin, before)
	storeAgain(t, adminNC, before[:3])
	// A police fact filed under the AMHP's subject: set aside, not counted.
	if _, err := admin.JetStream().Publish(ctx, "crisis.amhp."+before[0].Subject+".assessment_completed_v1", docs(t, before[:1])[0]); err != nil {
		t.Fatal(err)
	}
	svc := consoleService(t, b, admin)
	through, err := svc.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last := streamLast(t, admin); through != last {
		t.Fatalf("the snapshot holds through sequence %d; the stream ends at %d", through, last)
	}
	snaps, err := reports.OpenSnapshots(ctx, admin.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	atSnapshot, src, err := reports.Build(ctx, admin, snaps)
	if err != nil {
		t.Fatal(err)
	}
	if src.Rebuilt || src.Through != through || src.Read != 0 {
		t.Fatalf("built %s; want from the snapshot through %d and nothing after it", src, through)
	}
	if got, want := everything(t, atSnapshot), mustRebuild(t, admin); got != want {
		t.Fatalf("from the snapshot alone:\n%s\nrebuilt:\n%s", got, want)
	}

	publishAll(t, admin, after)
	storeAgain(t, adminNC, append(before[5:7:7], after[:2]...)) // counted before the snapshot, and after it
	fromSnapshot, src, err := reports.Build(ctx, admin, snaps)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(after) + 4); src.Rebuilt || src.Through != through || src.Read != want {
		t.Fatalf("built %s; want from the snapshot through %d and the %d events after it", src, through, want)
	}
	rebuilt := mustRebuild(t, admin)
	if got := everything(t, fromSnapshot); got != rebuilt {
		t.Errorf("from the snapshot and the events after it:\n%s\nrebuilt from the whole stream:\n%s", got, rebuilt)
	}
	if everything(t, atSnapshot) == rebuilt {
		t.Fatal("the events stored after the snapshot changed no table: the test shows nothing")
	}
	for _, want := range []string{"duplicates 7", "published on crisis.amhp."} {
		if !strings.Contains(rebuilt, want) {
			t.Errorf("the stream lacks what the test stored (%q):\n%s", want, rebuilt)
		}
	}

	// The console, started again, begins at its snapshot (saved again as
	// it stopped) and reads on.
	caughtUp(t, svc, admin)
	svc.Stop()
	if _, src, err := reports.Build(ctx, admin, snaps); err != nil || src.Through != streamLast(t, admin) {
		t.Fatalf("after the console stopped the newest snapshot is %s (%v); want it to hold through %d", src, err, streamLast(t, admin))
	}
	more, _ := pathway(t, 12, 30)
	publishAll(t, admin, more)
	again := consoleService(t, b, admin)
	if got, want := everything(t, again.Projection()), mustRebuild(t, admin); got != want {
		t.Errorf("the console started from its snapshot counts:\n%s\nrebuilt:\n%s", got, want)
	}
}

// A snapshot that does not read back whole is never used: the next one
// that does is, with every event after it, and with none the report is
// rebuilt from the whole stream, saying why. The tables are the same
// every time.
func TestDamagedSnapshotFallsBack(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	admin, err := natsbus.NewBus(bustest.Conn(t, b, ""), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, after := pathway(t, 21, 120)
	publishAll(t, admin, before[:len(before)/2])
	svc := consoleService(t, b, admin)
	older, err := svc.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, admin, before[len(before)/2:])
	caughtUp(t, svc, admin)
	newer, err := svc.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svc.Stop()
	publishAll(t, admin, after)
	rebuilt := mustRebuild(t, admin)

	obs, err := admin.JetStream().ObjectStore(ctx, rights.ReportsBucket)
	if err != nil {
		t.Fatal(err)
	}
	slotOf := map[string]string{}
	for _, name := range []string{"projection-a", "projection-b"} {
		info, err := obs.GetInfo(ctx, name)
		if err != nil {
			t.Fatalf("snapshot %s: %v", name, err)
		}
		slotOf[info.Metadata["last"]] = name
	}
	damage := func(name string, f func([]byte) []byte) {
		t.Helper()
		info, err := obs.GetInfo(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := obs.GetBytes(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: info.Metadata}, strings.NewReader(string(f(raw)))); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := reports.OpenSnapshots(ctx, admin.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	build := func(wantThrough uint64, wantWhy ...string) {
		t.Helper()
		p, src, err := reports.Build(ctx, admin, snaps)
		if err != nil {
			t.Fatal(err)
		}
		if src.Through != wantThrough {
			t.Errorf("built %s; want through sequence %d", src, wantThrough)
		}
		for _, why := range wantWhy {
			if !strings.Contains(src.String(), why) {
				t.Errorf("built %s; want it to say %q", src, why)
			}
		}
		if got := everything(t, p); got != rebuilt {
			t.Errorf("built %s:\n%s\nrebuilt from the whole stream:\n%s", src, got, rebuilt)
		}
	}
	build(newer)

	// One byte of the newest changed in the middle of its counts.
	damage(slotOf[fmt.Sprint(newer)], func(b []byte) []byte { b[len(b)-len(b)/3] ^= 0x20; return b })
	build(older, "checksum does not match")

	// The older cut short, and the newest saved by another version.
	damage(slotOf[fmt.Sprint(older)], func(b []byte) []byte { return b[:len(b)/2] })
	info, err := obs.GetInfo(ctx, slotOf[fmt.Sprint(newer)])
	if err != nil {
		t.Fatal(err)
	}
	info.Metadata["version"] = "0123456789abcdef"
	if err := obs.UpdateMeta(ctx, info.Name, info.ObjectMeta); err != nil {
		t.Fatal(err)
	}
	build(0, "rebuilt from all", "damaged", "another version")

	// Not a snapshot at all.
	damage(slotOf[fmt.Sprint(older)], func([]byte) []byte { return []byte(`{"counts":"made up"}`) })
	build(0, "not a reports snapshot")
}

// Only the console writes the snapshots: an agency's user cannot open the
// bucket or write an object's chunk or description, and the report still
// comes from the console's snapshot.
func TestAgencyCannotWriteSnapshots(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	admin, err := natsbus.NewBus(bustest.Conn(t, b, ""), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := pathway(t, 31, 30)
	publishAll(t, admin, before)
	svc := consoleService(t, b, admin)
	through, err := svc.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []events.Agency{events.Police, events.AMHP, events.Record} {
		refused := make(chan error, 16)
		nc := bustest.Conn(t, b, a, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { refused <- err }))
		js, err := natsbus.NewJetStream(nc)
		if err != nil {
			t.Fatal(err)
		}
		octx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if _, err := js.ObjectStore(octx, rights.ReportsBucket); err == nil {
			t.Errorf("%s opened the reports snapshot bucket", a)
		}
		cancel()
		for _, subj := range []string{
			"$O." + rights.ReportsBucket + ".C.forged",
			"$O." + rights.ReportsBucket + ".M." + base64.URLEncoding.EncodeToString([]byte("projection-a")),
		} {
			for len(refused) > 0 {
				<-refused // the refusals of opening the bucket
			}
			if err := nc.Publish(subj, []byte(`forged`)); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-refused:
				if !strings.Contains(err.Error(), "Permissions Violation") || !strings.Contains(err.Error(), subj) {
					t.Errorf("%s writing %s: %v", a, subj, err)
				}
			case <-time.After(3 * time.Second):
				t.Errorf("the server did not refuse %s writing %s", a, subj)
			}
		}
	}
	snaps, err := reports.OpenSnapshots(ctx, admin.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	p, src, err := reports.Build(ctx, admin, snaps)
	if err != nil {
		t.Fatal(err)
	}
	if src.Through != through || src.Rebuilt {
		t.Errorf("built %s; want from the console's snapshot through %d", src, through)
	}
	if got, want := everything(t, p), mustRebuild(t, admin); got != want {
		t.Errorf("from the snapshot:\n%s\nrebuilt:\n%s", got, want)
	}
}

// A console started on an empty stream (a new installation) saves
// snapshots that report uses once events are stored.
func TestSnapshotOfAStreamFirstSeenEmpty(t *testing.T) {
	ctx := context.Background()
	b := bustest.Start(t, "")
	admin, err := natsbus.NewBus(bustest.Conn(t, b, ""), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := consoleService(t, b, admin)
	before, after := pathway(t, 41, 24)
	publishAll(t, admin, before)
	caughtUp(t, svc, admin)
	through, err := svc.SaveSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, admin, after)
	snaps, err := reports.OpenSnapshots(ctx, admin.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	p, src, err := reports.Build(ctx, admin, snaps)
	if err != nil {
		t.Fatal(err)
	}
	if src.Rebuilt || src.Through != through || through != uint64(len(before)) {
		t.Fatalf("built %s; want from the snapshot through %d", src, len(before))
	}
	if got, want := everything(t, p), mustRebuild(t, admin); got != want {
		t.Errorf("from the snapshot:\n%s\nrebuilt:\n%s", got, want)
	}
}
