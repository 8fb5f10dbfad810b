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
// holds the reason.
func (b *Bus) PublishBatchRaw(ctx context.Context, docs [][]byte) []BatchResult {
	res := make([]BatchResult, len(docs))
	msgs := make([]*nats.Msg, len(docs))
	futures := make([]jetstream.PubAckFuture, len(docs))
	// Validate a slice, send it, validate the next while the server stores
	// the one sent; wait for the acknowledgements at the end.
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
						msgs[i], err = b.messageOf(e, docs[i])
					}
					res[i].Err, res[i].Refused = err, err != nil
				}
			}()
		}
		wg.Wait()
		b.sendAsync(ctx, msgs, res, futures, lo, hi)
	}
	b.awaitAcks(ctx, msgs, res, futures)
	return res
}
