package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

func init() {
	commands["deadletter"] = command{"deadletter list: the messages consumers could not handle, with why (newest last)", cmdDeadLetter}
}

// cmdDeadLetter lists the dead-letter stream: every message a consumer
// rejected (invalid) or gave up on (its handler kept failing), with the
// reason, so an operator can see what did not reach an agency and why.
func cmdDeadLetter(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		return usageError{"usage: crisisbus deadletter list [--last N] [--consumer NAME] [--body]"}
	}
	fs := newFlags(e, "deadletter list", "[flags]")
	var cf connFlags
	cf.register(fs)
	last := fs.Int("last", 50, "how many of the newest messages to list")
	consumer := fs.String("consumer", "", "only this consumer's (e.g. amhp-inbox)")
	body := fs.Bool("body", false, "print each message's original body too")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *consumer != "" {
		if err := events.CheckToken("--consumer", *consumer); err != nil {
			return usageError{err.Error()}
		}
	}
	if *last < 1 {
		return usageError{fmt.Sprintf("--last %d: give how many of the newest messages to list (1 or more)", *last)}
	}
	nc, err := cf.connect("")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	s, err := js.Stream(ctx, natsbus.DeadLetterStream)
	if err != nil {
		return fmt.Errorf("dead-letter stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	st := info.State
	fmt.Fprintf(e.stdout, "%d message(s) in %s\n", st.Msgs, natsbus.DeadLetterStream)
	first := st.FirstSeq
	if st.LastSeq >= uint64(*last) && st.LastSeq-uint64(*last)+1 > first {
		first = st.LastSeq - uint64(*last) + 1
	}
	for seq := first; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dead letter %d: %w", seq, err)
		}
		h := m.Header
		// The consumer is the subject's, which only its owner may publish
		// under, not the header, which any publisher sets.
		by := strings.SplitN(m.Subject, ".", 3)[1:]
		if len(by) == 0 || *consumer != "" && by[0] != *consumer {
			continue
		}
		fmt.Fprintf(e.stdout, "\n#%d  %s  consumer %s  deliveries %s\n  subject: %s (stream sequence %s)\n  episode: %s  type: %s\n  reason:  %s\n",
			seq, m.Time.UTC().Format("2006-01-02 15:04:05Z"), by[0], h.Get(natsbus.HeaderDeadDeliveries),
			h.Get(natsbus.HeaderDeadSubject), h.Get(natsbus.HeaderDeadSequence),
			orDash(h.Get(natsbus.HeaderEpisode)), orDash(h.Get(natsbus.HeaderType)), h.Get(natsbus.HeaderDeadReason))
		if *body {
			fmt.Fprintf(e.stdout, "  body:    %s\n", strings.TrimSpace(string(m.Data)))
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
