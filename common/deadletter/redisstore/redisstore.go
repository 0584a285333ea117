// Package redisstore keeps a service's dead letters (see package bus) in
// Redis, for a service whose only store is Redis, as expiration's is: the
// same letters, ids, replay and discard as package deadletter keeps in
// MongoDB, so that one command (infra/cmd/deadletters) lists and replays
// both.
//
// The letters are the fields of one hash, Key, each a dead letter's id
// holding the letter as JSON. HSETNX stores a letter only when its id is
// new, so an event stored twice (its acknowledgement was lost and it came
// back) keeps one copy; HDEL removes one atomically. The hash has no
// expiry: a dead letter stays until it is replayed or discarded, for as
// long as Redis keeps its data (see the service's Redis persistence).
package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
)

// Key is the hash holding a service's dead letters, named like the
// collection package deadletter keeps them in.
const Key = "deadletters"

// Store keeps a service's dead letters in Redis. It is a
// deadletter.Keeper: deadletter.ReplayAll replays all of them.
type Store struct {
	rdb redis.UniversalClient
}

var _ deadletter.Keeper = (*Store)(nil)

// New returns the Store on rdb's hash Key.
func New(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb}
}

// document is a dead letter as stored, with package deadletter's field
// names: the fields of bus.DeadLetter, in its order, so that either
// converts to the other, and a field added to one and not to the other
// does not compile.
type document struct {
	Subject    string    `json:"subject"`
	Group      string    `json:"group"`
	Data       []byte    `json:"data"`
	Err        string    `json:"error"`
	Deliveries int       `json:"deliveries"`
	Sequence   uint64    `json:"sequence"`
	Published  time.Time `json:"published"`
	At         time.Time `json:"at"`
}

// deadLetter is the dead letter d stores, its times in UTC.
func (d document) deadLetter() bus.DeadLetter {
	l := bus.DeadLetter(d)
	l.Published, l.At = l.Published.UTC(), l.At.UTC()
	return l
}

func decode(id, value string) (deadletter.Letter, error) {
	var d document
	if err := json.Unmarshal([]byte(value), &d); err != nil {
		return deadletter.Letter{}, fmt.Errorf("letter %q: %w", id, err)
	}
	return deadletter.Letter{ID: id, DeadLetter: d.deadLetter()}, nil
}

// Put stores d under deadletter.ID(d); storing the same event of the same
// group again keeps the first copy.
func (s *Store) Put(ctx context.Context, d bus.DeadLetter) error {
	value, err := json.Marshal(document(d))
	if err != nil {
		return fmt.Errorf("deadletter: put %s seq %d: %w", d.Subject, d.Sequence, err)
	}
	if err := s.rdb.HSetNX(ctx, Key, deadletter.ID(d), value).Err(); err != nil {
		return fmt.Errorf("deadletter: put %s seq %d: %w", d.Subject, d.Sequence, err)
	}
	return nil
}

// List returns every dead letter, oldest first.
func (s *Store) List(ctx context.Context) ([]deadletter.Letter, error) {
	all, err := s.rdb.HGetAll(ctx, Key).Result()
	if err != nil {
		return nil, fmt.Errorf("deadletter: list: %w", err)
	}
	letters := make([]deadletter.Letter, 0, len(all))
	for id, value := range all {
		l, err := decode(id, value)
		if err != nil {
			return nil, fmt.Errorf("deadletter: list: %w", err)
		}
		letters = append(letters, l)
	}
	slices.SortFunc(letters, func(a, b deadletter.Letter) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.ID, b.ID))
	})
	return letters, nil
}

// Get returns the dead letter id names, or deadletter.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (deadletter.Letter, error) {
	value, err := s.rdb.HGet(ctx, Key, id).Result()
	if errors.Is(err, redis.Nil) {
		return deadletter.Letter{}, fmt.Errorf("%w: %q", deadletter.ErrNotFound, id)
	}
	if err != nil {
		return deadletter.Letter{}, fmt.Errorf("deadletter: get %q: %w", id, err)
	}
	l, err := decode(id, value)
	if err != nil {
		return deadletter.Letter{}, fmt.Errorf("deadletter: get: %w", err)
	}
	return l, nil
}

// Replay publishes the dead letter id names again on its subject, through
// pub, and then deletes it; deadletter.ErrNotFound if there is none. It
// behaves as deadletter.Store.Replay does, failures included.
func (s *Store) Replay(ctx context.Context, pub deadletter.Publisher, id string) error {
	l, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := pub.Publish(ctx, l.Subject, l.Data); err != nil {
		return fmt.Errorf("deadletter: replay %s: %w", l.ID, err)
	}
	if err := s.rdb.HDel(ctx, Key, l.ID).Err(); err != nil {
		return fmt.Errorf("deadletter: replay %s: published, but not deleted: %w", l.ID, err)
	}
	return nil
}

// Discard deletes the dead letter id names without publishing it;
// deadletter.ErrNotFound if there is none.
func (s *Store) Discard(ctx context.Context, id string) error {
	n, err := s.rdb.HDel(ctx, Key, id).Result()
	if err != nil {
		return fmt.Errorf("deadletter: discard %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %q", deadletter.ErrNotFound, id)
	}
	return nil
}
