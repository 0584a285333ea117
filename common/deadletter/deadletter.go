// Package deadletter keeps the events a service gave up on (see package
// bus) in the collection "deadletters" of the service's own database, and
// lists and replays them.
//
// A service sets a Store as its bus.Config.DeadLetters (a service whose
// only store is Redis, a redisstore.Store of package deadletter/redisstore,
// which keeps the same letters under the same ids). Both are Keepers. An
// operator reads the dead letters with List (or the command
// infra/cmd/deadletters), mends what made them fail, and replays them with
// Replay, or all of them with ReplayAll: each is published again, as it
// was, on its subject, then deleted.
//
// A replay is a new publish on the subject, so it reaches every queue group
// subscribed to that subject, not only the one that gave up on it. That is
// safe because every listener is versioned and idempotent: a group that
// already applied the event acknowledges it without effect.
//
// The store needs no transaction, change stream or conditional update, so
// it works on FerretDB as on MongoDB: a dead letter's _id is derived from
// the event and its group, so storing it twice (its acknowledgement was
// lost and it came back) keeps one copy.
package deadletter

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/bus"
)

// Collection is the collection of a service's database holding its dead
// letters.
const Collection = "deadletters"

// ErrNotFound is returned for an id that names no dead letter.
var ErrNotFound = errors.New("deadletter: not found")

// Letter is a stored dead letter and the id that names it.
type Letter struct {
	ID string
	bus.DeadLetter
}

// Publisher publishes a payload on a subject and waits until the server has
// stored it, as *bus.Conn does.
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte) error
}

// Keeper is where a service keeps its dead letters: a Store on its
// MongoDB, or a redisstore.Store on its Redis. The bus stores the events
// it gives up on through Put; an operator lists, replays and discards them
// through the rest. Every Keeper behaves alike, as the conformance suite
// of package deadletter/deadlettertest checks:
//
//   - Put stores a letter under ID(d); storing the same event of the same
//     group again keeps the first copy.
//   - List returns every letter, oldest first (by At, then by ID), each
//     field as it was put, the payload byte for byte.
//   - Get, Replay and Discard return ErrNotFound for an id that names no
//     letter.
//   - Replay publishes the letter again on its subject and then deletes
//     it; a letter it could not publish is kept.
//   - Discard deletes a letter without publishing it.
type Keeper interface {
	bus.DeadLetterSink
	// List returns every dead letter, oldest first.
	List(ctx context.Context) ([]Letter, error)
	// Get returns the dead letter id names, or ErrNotFound.
	Get(ctx context.Context, id string) (Letter, error)
	// Replay publishes the dead letter id names again on its subject,
	// through pub, and then deletes it; ErrNotFound if there is none.
	Replay(ctx context.Context, pub Publisher, id string) error
	// Discard deletes the dead letter id names without publishing it;
	// ErrNotFound if there is none.
	Discard(ctx context.Context, id string) error
}

// ReplayAll replays every dead letter k keeps, oldest first, and returns
// how many it replayed; it stops at the first it cannot replay, keeping
// that letter and every one after it for a later replay. A letter that is
// gone by the time its turn comes (replayed or discarded meanwhile, by
// another operator) is skipped: it is not counted, and not published
// again.
func ReplayAll(ctx context.Context, k Keeper, pub Publisher) (int, error) {
	letters, err := k.List(ctx)
	if err != nil {
		return 0, err
	}
	replayed := 0
	for _, l := range letters {
		err := k.Replay(ctx, pub, l.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return replayed, err
		}
		replayed++
	}
	return replayed, nil
}

// Store keeps a service's dead letters in MongoDB. It is a Keeper.
type Store struct {
	coll *mongo.Collection
}

var _ Keeper = (*Store)(nil)

// New returns the Store on db's collection Collection.
func New(db *mongo.Database) *Store {
	return &Store{coll: db.Collection(Collection)}
}

// document is a dead letter as stored.
type document struct {
	ID         string    `bson:"_id"`
	Subject    string    `bson:"subject"`
	Group      string    `bson:"group"`
	Data       []byte    `bson:"data"`
	Err        string    `bson:"error"`
	Deliveries int       `bson:"deliveries"`
	Sequence   int64     `bson:"sequence"`
	Published  time.Time `bson:"published"`
	At         time.Time `bson:"at"`
}

func (d document) letter() Letter {
	return Letter{ID: d.ID, DeadLetter: bus.DeadLetter{
		Subject:    d.Subject,
		Group:      d.Group,
		Data:       d.Data,
		Err:        d.Err,
		Deliveries: d.Deliveries,
		Sequence:   uint64(d.Sequence),
		Published:  d.Published.UTC(),
		At:         d.At.UTC(),
	}}
}

// ID returns the id under which d is stored: the same for every delivery
// of one event to one group. The publish time is part of it so that a
// channel whose sequence numbers started again (its server's store was
// wiped) cannot collide with an old dead letter, which would drop the new
// one as a copy.
func ID(d bus.DeadLetter) string {
	h := sha256.New()
	for _, s := range []string{d.Subject, d.Group} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], d.Sequence)
	binary.BigEndian.PutUint64(n[8:], uint64(d.Published.UnixNano()))
	h.Write(n[:])
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Put stores d; storing the same event of the same group again keeps the
// first copy.
func (s *Store) Put(ctx context.Context, d bus.DeadLetter) error {
	_, err := s.coll.InsertOne(ctx, document{
		ID:         ID(d),
		Subject:    d.Subject,
		Group:      d.Group,
		Data:       d.Data,
		Err:        d.Err,
		Deliveries: d.Deliveries,
		Sequence:   int64(d.Sequence),
		Published:  d.Published,
		At:         d.At,
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("deadletter: put %s seq %d: %w", d.Subject, d.Sequence, err)
	}
	return nil
}

// List returns every dead letter, oldest first.
func (s *Store) List(ctx context.Context) ([]Letter, error) {
	cur, err := s.coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "at", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("deadletter: list: %w", err)
	}
	var docs []document
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("deadletter: list: %w", err)
	}
	letters := make([]Letter, len(docs))
	for i, d := range docs {
		letters[i] = d.letter()
	}
	return letters, nil
}

// Get returns the dead letter id names, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Letter, error) {
	var d document
	err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Letter{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Letter{}, fmt.Errorf("deadletter: get %q: %w", id, err)
	}
	return d.letter(), nil
}

// Replay publishes the dead letter id names again on its subject, through
// pub, and then deletes it; ErrNotFound if there is none. The publish
// reaches every queue group subscribed to the subject (see the package
// documentation). Should the delete fail after the publish, the letter
// stays and a second replay publishes it again, which the idempotent
// listeners tolerate; a failed publish keeps it for a later replay.
func (s *Store) Replay(ctx context.Context, pub Publisher, id string) error {
	l, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if err := pub.Publish(ctx, l.Subject, l.Data); err != nil {
		return fmt.Errorf("deadletter: replay %s: %w", l.ID, err)
	}
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: l.ID}}); err != nil {
		return fmt.Errorf("deadletter: replay %s: published, but not deleted: %w", l.ID, err)
	}
	return nil
}

// Discard deletes the dead letter id names without publishing it: an event
// looked into and found to be of no use, such as one published by mistake;
// ErrNotFound if there is none.
func (s *Store) Discard(ctx context.Context, id string) error {
	res, err := s.coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("deadletter: discard %q: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return nil
}
