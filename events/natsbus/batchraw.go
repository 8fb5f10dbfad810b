package natsbus

import (
	"context"
	"runtime"
	"sync"

	"github.com/crisisbus/crisisbus/events"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishBatchRaw publishes events given as their JSON documents (bulk
// import) and stores each document's bytes unchanged, so an export of the
// stream imports back byte for byte. Each document is validated exactly as
// Publish validates an event (Parse: the whole contract; this bus's
// authorship; its subject), on every core at once, a slice at a time while
// the server stores the slice before; publishing keeps the documents' order
// with acknowledgements pipelined. Results are in the order
// of docs; a document that fails validation is not published and its result
// holds the reason. It is SendBatchRaw, then Wait.
func (b *Bus) PublishBatchRaw(ctx context.Context, docs [][]byte) []BatchResult {
	return b.SendBatchRaw(ctx, docs).Wait()
}

// SentBatch is a batch sent by SendBatchRaw whose acknowledgements may not
// all have come back yet.
type SentBatch struct {
	ctx     context.Context
	b       *Bus
	msgs    []*nats.Msg
	res     []BatchResult
	futures []jetstream.PubAckFuture
}

// SendBatchRaw validates and sends docs as PublishBatchRaw does, and
// returns without waiting for the server's acknowledgements: a bulk load
// sends its next batch while the server stores this one. Batches sent one
// after another from one goroutine are stored in that order. Nothing is
// known stored until Wait says so.
func (b *Bus) SendBatchRaw(ctx context.Context, docs [][]byte) *SentBatch {
	sb := &SentBatch{ctx: ctx, b: b, msgs: make([]*nats.Msg, len(docs)), res: make([]BatchResult, len(docs)),
		futures: make([]jetstream.PubAckFuture, len(docs))}
	// Validate a slice, send it, validate the next while the server stores
	// the one sent.
	const slice = 256
	for lo := 0; lo < len(docs); lo += slice {
		hi := min(lo+slice, len(docs))
		workers := min(runtime.GOMAXPROCS(0), max((hi-lo)/32, 1))
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := lo + w; i < hi; i += workers {
					e, err := events.Parse(docs[i])
					if err == nil {
						sb.msgs[i], err = b.messageOf(e, docs[i])
					}
					sb.res[i].Err, sb.res[i].Refused = err, err != nil
				}
			}()
		}
		wg.Wait()
		b.sendAsync(ctx, sb.msgs, sb.res, sb.futures, lo, hi)
	}
	return sb
}

// Wait waits for the acknowledgement of each document sent (or until the
// context SendBatchRaw was given is done) and returns the results, in the
// order of the documents.
func (sb *SentBatch) Wait() []BatchResult {
	sb.b.awaitAcks(sb.ctx, sb.msgs, sb.res, sb.futures)
	return sb.res
}
