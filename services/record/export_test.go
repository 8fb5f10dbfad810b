package record

import (
	"context"
	"slices"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
)

// ScanWorklist is the worklist read from every view, for tests to compare
// with the one the record keeps.
func (s *Store) ScanWorklist(ctx context.Context, a events.Agency) ([]WorkItem, error) {
	return s.scanWorklist(ctx, a)
}

// ScanHandedOn is the "handed on" list read from every view, for tests to
// compare with the one the record keeps.
func (s *Store) ScanHandedOn(ctx context.Context, a events.Agency) ([]WorkItem, error) {
	items, err := s.scan(ctx, func(v episode.View) (WorkItem, bool) { return handedOnItem(v, a) })
	slices.SortFunc(items, func(x, y WorkItem) int { return y.LastAt.Compare(x.LastAt) })
	return items, err
}

// WorklistsKept reports whether worklists come from what the record keeps
// (its watcher has read every stored view), not from a scan.
func (s *Store) WorklistsKept() bool {
	x := s.worklists.Load()
	if x == nil {
		return false
	}
	_, ok := x.items(events.Police)
	return ok
}
