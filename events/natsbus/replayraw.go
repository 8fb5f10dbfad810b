package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crisisbus/crisisbus/events"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Stored is one event as the stream holds it: its sequence, the subject it
// was published on and the exact bytes stored.
type Stored struct {
	Seq     uint64
	Subject string
	Raw     []byte
	// Header is the message's headers when read by a direct get (nil
	// otherwise).
	Header nats.Header
}

// ReplayConfig says what ReplayRaw reads back from the stream.
type ReplayConfig struct {
	Filters []string // subject filters; default every event
	// Follow keeps delivering new events after the stored ones; without it
	// Replay returns once it has delivered every event stored when it began.
	Follow bool
	// From and To bound the stream sequences read (0: from the first; to
	// the last). Readers of disjoint ranges can run side by side.
	From, To uint64
}

// replayIdle is how long the server keeps the consumer of a finished read.
const replayIdle = 5 * time.Second

// ReplayRaw reads the stream in order, from the first event, and calls f
// with each stored event's bytes, unchanged and not validated again: the
// bulk read behind reports over millions of events and export (Replay
// validates each event, for views that act on what they read, and costs
// tens of microseconds an event more). It is an ordered, unacknowledged read
// that leaves no durable state on the server, so a restarted process simply
// reads again; with Follow it keeps delivering new events.
//
// Every event entered the stream through this package's validation and the
// server's per-agency subject permissions; a reader that decodes an event
// should still check its subject against Subject, which is cheap, before
// trusting it.
func (b *Bus) ReplayRaw(ctx context.Context, cfg ReplayConfig, f func(Stored) error) error {
	if len(cfg.Filters) == 0 {
		cfg.Filters = []string{events.AllSubjects()}
	}
	for _, f := range cfg.Filters {
		if err := events.CheckSubject("replay filter", f); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
	}
	// A stream takes at most 1000 consumers, and the server keeps a
	// finished reader's consumer until it has been idle for
	// InactiveThreshold (the client's default is 5 minutes): reports run
	// one after another piled them up. So a read deletes its consumer when
	// it ends, and a short threshold clears what a stopped process leaves.
	// A reader is never idle while it reads (it always has a pull waiting).
	// (An episode is read with direct gets, without a consumer: Replay.)
	occ := jetstream.OrderedConsumerConfig{FilterSubjects: cfg.Filters, InactiveThreshold: replayIdle}
	if cfg.From > 0 {
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cfg.From
	}
	cons, err := b.js.OrderedConsumer(ctx, Stream, occ)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer func() {
		// The read is over: its consumer goes now, so the stream's
		// consumer count is as it was when the read returns.
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := b.js.DeleteConsumer(dctx, Stream, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				b.log.Warn("a finished read's consumer was not removed; the server removes it when idle", zap.String("consumer", info.Name), zap.Error(err))
			}
		}
	}()
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer it.Stop()
	if !cfg.Follow {
		info, err := cons.Info(ctx)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if info.NumPending == 0 && info.Delivered.Consumer == 0 {
			return nil // nothing stored matches
		}
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("replay: %w", err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if cfg.To > 0 && md.Sequence.Stream > cfg.To {
			return nil
		}
		if err := f(Stored{Seq: md.Sequence.Stream, Subject: msg.Subject(), Raw: msg.Data()}); err != nil {
			return err
		}
		if (!cfg.Follow && md.NumPending == 0) || (cfg.To > 0 && md.Sequence.Stream >= cfg.To) {
			return nil
		}
	}
}
