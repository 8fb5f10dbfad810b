package record

import (
	"context"

	"github.com/crisisbus/crisisbus/events"
)

// ScanWorklist is the worklist read from every view, for tests to compare
// with the one the record keeps.
func (s *Store) ScanWorklist(ctx context.Context, a events.Agency) ([]WorkItem, error) {
	return s.scanWorklist(ctx, a)
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
