// Package outbox makes sure that every change a service stores is followed by
// its event, even when NATS Streaming is down or the service crashes in
// between.
//
// MongoDB standalone and FerretDB have no multi-document transactions, so a
// pending event is stored in the same document as the change it announces,
// in the array field named by Field, by the same single-document write:
//
//	unlock := locks.Lock(id.Hex())
//	_, err := coll.UpdateOne(ctx,
//		bson.M{"_id": id, "version": v},
//		bson.M{"$set": bson.M{"version": v + 1}, "$push": bson.M{outbox.Field: msg}})
//	unlock()
//	relay.Notify()
//
// A Relay then publishes the pending messages and removes each one once NATS
// Streaming has stored it. Delivery is at least once: a crash between the
// publish and the removal publishes the message again, which consumers
// ignore because they apply each version only once.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
)

// Field is the array field of an entity's document that holds its pending
// messages, oldest first.
const Field = "outbox"

// Message is one pending event stored inside its entity's document.
type Message struct {
	ID      string `bson:"id"` // random, unique
	Subject string `bson:"subject"`
	Data    []byte `bson:"data"` // the JSON payload as events encode it
}

// New returns the pending message that will publish e.
func New[E events.Event](e E) (Message, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Message{}, fmt.Errorf("outbox: encode %s: %w", e.Subject(), err)
	}
	return Message{ID: rand.Text(), Subject: string(e.Subject()), Data: data}, nil
}

// Publisher is what the relay publishes through; *bus.Conn satisfies it.
// Publish must return only once the message is stored by the server.
type Publisher interface {
	Publish(ctx context.Context, subject string, data []byte) error
}

// DefaultPollInterval is how often a relay looks for pending messages that
// no Notify announced, such as those left by another process.
const DefaultPollInterval = time.Second

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 3 * time.Second
	// batchSize bounds how many documents one query loads, so that a long
	// outage's backlog is not read into memory at once.
	batchSize = 100
	// removeTimeout bounds the removal of a published message, which is
	// finished even when Run's context has just been cancelled: the
	// message is already on the bus, and forgetting to remove it would
	// only publish it again.
	removeTimeout = 5 * time.Second
)

// Option configures a Relay.
type Option func(*Relay)

// WithPollInterval sets how often the relay looks for pending messages
// without being notified; the default is DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return func(r *Relay) {
		if d > 0 {
			r.poll = d
		}
	}
}

// Relay publishes the pending messages of one collection.
type Relay struct {
	coll    *mongo.Collection
	pub     Publisher
	locks   *keylock.Locks
	log     *slog.Logger
	poll    time.Duration
	wake    chan struct{}
	running atomic.Bool
}

// NewRelay returns a relay for the documents of coll. locks must be the
// ones the collection's store holds around every write of a document,
// keyed by the document's _id: an ObjectID's Hex(), a string itself, any
// other type its extended JSON. The relay holds the same lock while it
// removes a published message, because FerretDB does not apply concurrent
// updates of one document atomically: without it, a removal racing a
// store's update was seen to write back the version it had read.
func NewRelay(coll *mongo.Collection, pub Publisher, locks *keylock.Locks, log *slog.Logger, opts ...Option) *Relay {
	r := &Relay{
		coll:  coll,
		pub:   pub,
		locks: locks,
		log:   log.With("component", "outbox", "collection", coll.Name()),
		poll:  DefaultPollInterval,
		wake:  make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Notify tells the relay that a message is pending, so that it publishes it
// now rather than at the next poll. It never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes every message pending when it starts, then those announced
// by Notify and those found every poll interval, until ctx is done; it
// then returns nil. Failures are logged and retried with backoff until the
// server accepts the message, so nothing is dropped. One relay runs per
// collection and process; relays of other processes on the same collection
// are safe but may publish a message twice.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("outbox: relay is already running")
	}
	defer r.running.Store(false)

	poll := time.NewTicker(r.poll)
	defer poll.Stop()
	backoff := minBackoff
	failing := false
	for {
		err := r.drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.log.Warn("pending events not published; retrying", "err", err, "retry_in", backoff)
			failing = true
			// Notify does not cut the backoff short: while the bus is down
			// every attempt waits out a publish timeout, and a busy service
			// would otherwise retry on every write.
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if failing {
			r.log.Info("pending events published again")
			failing = false
		}
		backoff = minBackoff
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-poll.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pending is the part of an entity's document the relay reads. The
// messages stay raw so that a removal names exactly the stored element.
type pending struct {
	id     bson.RawValue
	key    string
	outbox []bson.RawValue
}

// readPending reads doc by hand rather than by decoding into a struct, so
// that one malformed document fails alone instead of the whole query.
func readPending(doc bson.Raw) (pending, error) {
	id := doc.Lookup("_id")
	p := pending{id: id, key: lockKey(id)}
	arr, ok := doc.Lookup(Field).ArrayOK()
	if !ok {
		return p, &badMessageError{key: p.key, err: errors.New("outbox is not an array")}
	}
	var err error
	if p.outbox, err = arr.Values(); err != nil {
		return p, &badMessageError{key: p.key, err: err}
	}
	return p, nil
}

// drain publishes everything pending. A document whose messages cannot be
// read is skipped, so that it holds up no other; a failure to publish or to
// remove ends the pass, since the bus or the database is then down for
// every document alike.
func (r *Relay) drain(ctx context.Context) error {
	var skipped []error
	for {
		docs, err := r.find(ctx)
		if err != nil {
			return err
		}
		progress := false
		for _, doc := range docs {
			d, err := readPending(doc)
			n := 0
			if err == nil {
				n, err = r.publish(ctx, d)
			}
			if n > 0 {
				progress = true
			}
			var bad *badMessageError
			switch {
			case errors.As(err, &bad):
				skipped = append(skipped, err)
			case err != nil:
				return err
			}
		}
		// Documents stay pending only if they were skipped or written to
		// again meanwhile; query again only when this batch moved, or the
		// skipped ones would fill every batch forever.
		if len(docs) < batchSize || !progress {
			return errors.Join(skipped...)
		}
	}
}

func (r *Relay) find(ctx context.Context) ([]bson.Raw, error) {
	// FerretDB 1.24 and MongoDB both match "a non-empty array" this way.
	filter := bson.D{{Key: Field + ".0", Value: bson.D{{Key: "$exists", Value: true}}}}
	opts := options.Find().
		SetProjection(bson.D{{Key: Field, Value: 1}}).
		SetLimit(batchSize)
	cur, err := r.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("outbox: find pending: %w", err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("outbox: find pending: %w", err)
	}
	return docs, nil
}

type badMessageError struct {
	key string
	err error
}

func (e *badMessageError) Error() string {
	return fmt.Sprintf("outbox: document %s: unreadable message: %v", e.key, e.err)
}

func (e *badMessageError) Unwrap() error { return e.err }

// publish publishes d's messages in order and removes each once it is
// published. It stops at the first failure, so that a later event never
// overtakes an earlier one, and returns how many it published.
func (r *Relay) publish(ctx context.Context, d pending) (int, error) {
	for i, v := range d.outbox {
		raw, ok := v.DocumentOK()
		if !ok {
			return i, &badMessageError{key: d.key, err: fmt.Errorf("element %d is a %s", i, v.Type)}
		}
		var m Message
		if err := bson.Unmarshal(raw, &m); err != nil {
			return i, &badMessageError{key: d.key, err: fmt.Errorf("element %d: %w", i, err)}
		}
		if m.Subject == "" {
			return i, &badMessageError{key: d.key, err: fmt.Errorf("element %d has no subject", i)}
		}
		if err := r.pub.Publish(ctx, m.Subject, m.Data); err != nil {
			return i, fmt.Errorf("outbox: document %s: publish %s: %w", d.key, m.ID, err)
		}
		if err := r.remove(ctx, d, raw); err != nil {
			return i + 1, fmt.Errorf("outbox: document %s: remove published %s: %w", d.key, m.ID, err)
		}
		r.log.Debug("event published", "document", d.key, "subject", m.Subject, "message", m.ID)
	}
	return len(d.outbox), nil
}

// remove takes one published message out of its document. $pull is given
// the element exactly as stored: FerretDB 1.24 compares a document operand
// of $pull for equality and silently removes nothing for a partial
// condition such as {id: ...}, whereas MongoDB treats it as a query that
// the whole element matches. Both thus remove exactly this message and
// leave any pushed since untouched.
func (r *Relay) remove(ctx context.Context, d pending, msg bson.Raw) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	unlock := r.locks.Lock(d.key)
	defer unlock()
	_, err := r.coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: d.id}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: Field, Value: msg}}}},
	)
	return err
}

// lockKey returns the lock key of a document _id, the one NewRelay documents
// for stores.
func lockKey(id bson.RawValue) string {
	if oid, ok := id.ObjectIDOK(); ok {
		return oid.Hex()
	}
	if s, ok := id.StringValueOK(); ok {
		return s
	}
	return id.String()
}
