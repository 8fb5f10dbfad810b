package system

import (
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
)

// matches reports whether subject matches a NATS filter (* one token, >
// the rest).
func matches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// The "consumed by" the AsyncAPI document publishes is what the running
// services' consumers really take from the stream: for each consumer the
// server holds, a type is consumed exactly when one of its filters matches
// the type's subjects. (Reported wrong before: the clock was said to
// consume assessment.delayed and not episode.closed.)
func TestConsumersAreWhatTheServicesSubscribeTo(t *testing.T) {
	sys, err := Start(t.Context(), Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	admin, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]events.Consumer{}
	for _, c := range Consumers() {
		declared[strings.SplitN(c.Name, " ", 2)[0]] = c
	}
	ep := events.NewEpisodeID()
	for _, durable := range []struct{ name, declared string }{
		{rights.RecordDurable, "record"}, {rights.AuditDurable, "audit-log"}, {rights.ClockDurable, "clock"},
		{rights.InboxDurable(events.AMHP), "the"},
	} {
		var filters []string
		bustest.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			c, err := admin.JetStream().Consumer(t.Context(), natsbus.Stream, durable.name)
			if err != nil {
				return err
			}
			info, err := c.Info(t.Context())
			if err != nil {
				return err
			}
			filters = info.Config.FilterSubjects
			if f := info.Config.FilterSubject; f != "" {
				filters = append(filters, f)
			}
			return nil
		})
		if len(filters) == 0 {
			filters = []string{events.AllSubjects()}
		}
		for _, s := range events.Catalogue() {
			subject := "crisis." + string(s.Publishers[0]) + "." + ep + "." + s.Token()
			if s.Addressed {
				subject += "." + string(events.AMHP)
			}
			taken := false
			for _, f := range filters {
				taken = taken || matches(f, subject)
			}
			if said := declared[durable.declared].Consumes(s); said != taken {
				t.Errorf("%s: the document says consumed %v, the consumer %s takes it: %v (filters %v)", s.Name, said, durable.name, taken, filters)
			}
		}
	}
}
