package record

import (
	"context"
	"encoding/json"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// MarkUnreadable notes in the projection a stored message of an episode
// that is not a usable event (the consumer dead-letters it), so the live
// view shows what a replay (Load) shows. A message whose subject names no
// valid episode id is left to the dead-letter stream.
func (s *Store) MarkUnreadable(ctx context.Context, u events.Unreadable) error {
	if !validKey(u.Episode) {
		return nil
	}
	return s.update(ctx, s.views, u.Episode, func(raw []byte) ([]byte, error) {
		v := episode.New(u.Episode)
		if raw != nil {
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, err
			}
		}
		if !v.MarkUnreadable(u) {
			return nil, nil
		}
		return json.Marshal(v)
	})
}
