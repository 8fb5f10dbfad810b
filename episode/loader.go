package episode

import "context"

// Loader reads an episode as one agency may know it, with the stream
// sequence of its last event.
type Loader interface {
	Load(ctx context.Context, episode, actor string) (View, uint64, error)
}
