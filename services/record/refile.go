package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/events/natsbus"
)

// layoutKey marks a person index filed one key per episode (indexPerson).
// An index written by an earlier crisisbus held, under each key, a list of
// every episode filed there, written again whole with each one: Start
// re-files such an index once, in place, before the record serves.
const layoutKey = "layout.one-key-per-episode"

// refilePeople re-files a person index of the earlier layout: each list
// becomes one key per episode, valued with when the episode opened, and the
// list is deleted. It is done once; an index already in the new layout (or
// a new one) is only marked.
func (s *Store) refilePeople(ctx context.Context, log *zap.Logger) error {
	if _, err := s.people.Get(ctx, layoutKey); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("read the person index's layout: %w", err)
	}
	found := false
	if _, err := natsbus.ReadKeys(ctx, s.nc, PeopleBucket, ">", 1, func(string, []byte) error { found = true; return nil }); err != nil {
		return fmt.Errorf("read the person index: %w", err)
	}
	if found {
		began := time.Now()
		keys, err := s.people.ListKeys(ctx)
		if err != nil {
			return fmt.Errorf("list the person index: %w", err)
		}
		var old []string
		for k := range keys.Keys() {
			last := k[strings.LastIndexByte(k, '.')+1:]
			if _, err := uuid.Parse(last); err != nil {
				old = append(old, k)
			}
		}
		if len(old) > 0 {
			log.Warn("re-filing the person index one key per episode (once, from an earlier crisisbus); search and matching are complete when it is done", zap.Int("keys", len(old)))
		}
		for i, k := range old {
			if err := s.refileKey(ctx, k); err != nil {
				return err
			}
			if (i+1)%1000 == 0 {
				log.Info("re-filing the person index", zap.Int("done", i+1), zap.Int("of", len(old)))
			}
		}
		if len(old) > 0 {
			log.Info("the person index is re-filed one key per episode", zap.Int("keys", len(old)), zap.Duration("took", time.Since(began).Round(time.Millisecond)))
		}
	}
	if _, err := s.people.Put(ctx, layoutKey, []byte("1")); err != nil {
		return fmt.Errorf("mark the person index's layout: %w", err)
	}
	return nil
}

// refileKey files each episode listed under old key k under its own key,
// then deletes the list.
func (s *Store) refileKey(ctx context.Context, k string) error {
	ent, err := s.people.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the person index under %s: %w", keyKind(k), err)
	}
	var ids []string
	if err := json.Unmarshal(ent.Value(), &ids); err != nil {
		return fmt.Errorf("the person index under %s holds no list of episodes: %w", keyKind(k), err)
	}
	for _, id := range ids {
		v, _, _, err := s.Get(ctx, id)
		if err != nil {
			return err
		}
		value := []byte(v.OpenedAt.UTC().Format(time.RFC3339Nano))
		if _, err := s.people.Create(ctx, k+"."+id, value); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("re-file episode %s under %s: %w", id, keyKind(k), err)
		}
	}
	if err := s.people.Delete(ctx, k); err != nil {
		return fmt.Errorf("delete the old list under %s: %w", keyKind(k), err)
	}
	return nil
}
