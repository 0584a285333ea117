// Package outbox makes sure that every change a service stores is followed by
// its event, even when NATS Streaming is down or the service crashes in
// between.
//
// MongoDB standalone and FerretDB have no multi-document transactions, so a
// pending event is stored in the same document as the change it announces,
// in the array field named by Field, by the same single-document write; the
// store then hands the message to the Relay while it still holds the
// document's lock:
//
//	unlock := locks.Lock(id.Hex())
//	_, err := coll.UpdateOne(ctx,
//		bson.M{"_id": id, "version": v},
//		bson.M{"$set": bson.M{"version": v + 1}, "$push": bson.M{outbox.Field: msg}})
//	if err == nil {
//		relay.Stored(id, msg)
//	}
//	unlock()
//
// The relay publishes the message at once, from memory, and then removes it
// from the document once NATS Streaming has stored it. The document stays
// the truth: at start, every poll interval and whenever its memory is
// exhausted, the relay also looks for pending messages in the collection,
// which finds those a crashed process left behind. Delivery is at least
// once: a crash between the publish and the removal publishes the message
// again, which consumers ignore because they apply each version only once.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
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

// DefaultPollInterval is how often a relay looks in the collection for
// pending messages that nobody handed it, such as those of another process.
const DefaultPollInterval = 5 * time.Second

const (
	minBackoff = 100 * time.Millisecond
	// maxBackoff is short because a publish fails fast while the bus is
	// disconnected: the first attempt after NATS Streaming is back should
	// not wait long.
	maxBackoff = time.Second
	// batchSize bounds how many documents one query loads, so that a long
	// outage's backlog is not read into memory at once.
	batchSize = 100
	// removeBatch bounds the published messages one write removes.
	removeBatch = 256
	// removePause spaces the removals out, so that under load each write
	// removes many messages: FerretDB's SQLite backend reads the whole
	// collection for every update, holding its write lock, and removals
	// 100 ms apart still cut its insert rate to a third (create: 184/s;
	// 585/s a second apart). A published message that waits a little
	// longer in its document costs nothing.
	removePause = time.Second
	// maxQueued bounds the messages a relay keeps in memory. Beyond it, it
	// forgets them and finds them in the collection instead.
	maxQueued = 10_000
	// removeTimeout bounds the removal of published messages once Run's
	// context is cancelled: they are already on the bus, and forgetting to
	// remove them would only publish them again.
	removeTimeout = 5 * time.Second
)

// Option configures a Relay.
type Option func(*Relay)

// WithPollInterval sets how often the relay looks for pending messages
// in the collection; the default is DefaultPollInterval.
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
	running atomic.Bool
	indexed bool // by the first look; only Run's goroutine reads it

	wake     chan struct{} // Stored or Notify: work for the publishing loop
	removals chan struct{} // published messages: work for the removing loop

	maxQueued int

	mu       sync.Mutex
	scan     bool              // look in the collection before publishing the queue
	queue    []*entry          // handed over by Stored, not yet published, oldest first
	queued   map[string]*entry // queue by message id
	toRemove []*entry          // published, not yet removed, oldest first
	removing map[string]bool   // toRemove's message ids, and while a look in the collection runs, those removed since it began
	scanning bool              // a look in the collection runs
	removed  []string          // message ids removed since the look began
}

// entry is one message of one document.
type entry struct {
	id   bson.RawValue // the document's _id
	key  string        // its lock key
	msg  Message
	raw  bson.Raw // the message exactly as stored, for its removal
	done bool     // published by a look in the collection meanwhile
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
		coll:      coll,
		pub:       pub,
		locks:     locks,
		log:       log.With("component", "outbox", "collection", coll.Name()),
		poll:      DefaultPollInterval,
		wake:      make(chan struct{}, 1),
		removals:  make(chan struct{}, 1),
		scan:      true,
		maxQueued: maxQueued,
		queued:    make(map[string]*entry),
		removing:  make(map[string]bool),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Stored hands the relay msgs, just stored in the document whose _id is
// id, so that it publishes them at once. Call it after the write
// succeeded and before releasing the document's lock, so that the
// messages of one document reach the relay in the order they were stored.
// It never blocks; messages it cannot keep are found in the collection
// later.
func (r *Relay) Stored(id any, msgs ...Message) {
	typ, val, err := bson.MarshalValue(id)
	if err != nil {
		r.log.Error("pending message of an unencodable _id; looking in the collection instead", "err", err)
		r.Notify()
		return
	}
	rid := bson.RawValue{Type: typ, Value: val}
	key := lockKey(rid)
	entries := make([]*entry, 0, len(msgs))
	for _, m := range msgs {
		raw, err := bson.Marshal(m)
		if err != nil {
			r.log.Error("unencodable pending message; looking in the collection instead", "document", key, "err", err)
			r.Notify()
			return
		}
		entries = append(entries, &entry{id: rid, key: key, msg: m, raw: raw})
	}

	r.mu.Lock()
	if len(r.queue)+len(entries) > r.maxQueued {
		// The bus has been down for long: keep memory bounded and publish
		// from the collection once it is back.
		clear(r.queued)
		r.queue = nil
		r.scan = true
	} else {
		for _, e := range entries {
			r.queue = append(r.queue, e)
			r.queued[e.msg.ID] = e
		}
	}
	r.mu.Unlock()
	signal(r.wake)
}

// Notify asks the relay to look in the collection for pending messages,
// such as those another process wrote. It never blocks.
func (r *Relay) Notify() {
	r.mu.Lock()
	r.scan = true
	r.mu.Unlock()
	signal(r.wake)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run publishes every message pending when it starts, then those handed
// over by Stored and those found in the collection every poll interval,
// until ctx is done; it then returns nil. Failures are logged and retried
// with backoff until the server accepts the message, so nothing is
// dropped. One relay runs per collection and process; relays of other
// processes on the same collection are safe but may publish a message
// twice.
func (r *Relay) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("outbox: relay is already running")
	}
	defer r.running.Store(false)

	removing := make(chan struct{})
	go func() {
		defer close(removing)
		r.removeLoop(ctx)
	}()
	defer func() { <-removing }()

	poll := time.NewTicker(r.poll)
	defer poll.Stop()
	backoff := minBackoff
	failing := false
	for {
		err := r.publishPending(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.log.Warn("pending events not published; retrying", "err", err, "retry_in", backoff)
			failing = true
			// Neither Stored nor Notify cuts the backoff short: a busy
			// service would otherwise retry on every write.
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
			r.mu.Lock()
			r.scan = true
			r.mu.Unlock()
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

// publishPending looks in the collection when asked to, then publishes the
// queue. Nothing of the queue is published before a look asked for has
// succeeded: at start, a document may hold an older message than the one
// handed over, which must go first.
func (r *Relay) publishPending(ctx context.Context) error {
	r.mu.Lock()
	scan := r.scan
	r.scan = false
	r.mu.Unlock()
	if scan {
		if err := r.look(ctx); err != nil {
			r.mu.Lock()
			r.scan = true
			r.mu.Unlock()
			return err
		}
	}
	for ctx.Err() == nil {
		r.mu.Lock()
		for len(r.queue) > 0 && r.queue[0].done {
			r.queue = r.queue[1:]
		}
		if len(r.queue) == 0 {
			r.queue = nil // let the backing array go
			r.mu.Unlock()
			return nil
		}
		e := r.queue[0]
		r.mu.Unlock()

		if err := r.pub.Publish(ctx, e.msg.Subject, e.msg.Data); err != nil {
			return fmt.Errorf("outbox: document %s: publish %s: %w", e.key, e.msg.ID, err)
		}
		r.mu.Lock()
		if len(r.queue) > 0 && r.queue[0] == e { // not dropped meanwhile
			r.queue = r.queue[1:]
		}
		delete(r.queued, e.msg.ID)
		r.published(e)
		r.mu.Unlock()
		r.log.Debug("event published", "document", e.key, "subject", e.msg.Subject, "message", e.msg.ID)
	}
	return nil
}

// published queues e's removal; r.mu must be held.
func (r *Relay) published(e *entry) {
	r.toRemove = append(r.toRemove, e)
	r.removing[e.msg.ID] = true
	signal(r.removals)
}

// removeLoop removes published messages from their documents, oldest
// first, retrying while the database fails, until ctx is done; it then
// removes what is left within removeTimeout.
func (r *Relay) removeLoop(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		if err := r.removePublished(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("published events not removed; retrying", "err", err, "retry_in", backoff)
			sleep(ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		sleep(ctx, removePause)
		select {
		case <-ctx.Done():
		case <-r.removals:
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	if err := r.removePublished(ctx); err != nil {
		r.log.Warn("published events not removed before stopping; they will be published again", "err", err)
	}
}

// removePublished removes every published message, a batch at a time,
// stopping at the first failure.
func (r *Relay) removePublished(ctx context.Context) error {
	for {
		r.mu.Lock()
		if len(r.toRemove) == 0 {
			r.toRemove = nil
			r.mu.Unlock()
			return ctx.Err()
		}
		batch := slices.Clone(r.toRemove[:min(len(r.toRemove), removeBatch)])
		r.mu.Unlock()

		if err := r.remove(ctx, batch); err != nil {
			return err
		}
		r.mu.Lock()
		r.toRemove = r.toRemove[len(batch):]
		for _, e := range batch {
			if r.scanning {
				// The look in the collection may have read the message
				// before it was removed: it must still know that it was
				// published.
				r.removed = append(r.removed, e.msg.ID)
			} else {
				delete(r.removing, e.msg.ID)
			}
		}
		r.mu.Unlock()
	}
}

// remove takes published messages out of their documents by one write,
// under the locks of every document, taken in order. $pullAll is given the
// elements exactly as stored, and both FerretDB 1.24 and MongoDB remove
// the elements equal to one of them: exactly these messages, leaving any
// pushed since untouched. (FerretDB's $pull compares a document operand
// for equality too, but removes nothing for an {$in: ...} condition, so
// it could only remove one message per write; on its SQLite backend every
// write reads the whole collection.)
func (r *Relay) remove(ctx context.Context, batch []*entry) error {
	idOf := make(map[string]bson.RawValue, len(batch)) // by lock key
	msgs := make(bson.A, 0, len(batch))
	for _, e := range batch {
		idOf[e.key] = e.id
		msgs = append(msgs, e.raw)
	}
	keys := slices.Sorted(maps.Keys(idOf))
	ids := make(bson.A, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, idOf[k])
	}
	for _, k := range keys {
		unlock := r.locks.Lock(k)
		defer unlock()
	}
	_, err := r.coll.UpdateMany(ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		bson.D{{Key: "$pullAll", Value: bson.D{{Key: Field, Value: msgs}}}},
	)
	if err != nil {
		return fmt.Errorf("outbox: remove %d published messages of %d documents: %w", len(batch), len(keys), err)
	}
	return nil
}

// pending is the part of an entity's document the relay reads. The
// messages stay raw so that a removal names exactly the stored element.
type pending struct {
	id     bson.RawValue
	key    string
	outbox []bson.RawValue
}

// look creates the relay's index the first time, then runs drain,
// remembering meanwhile which published messages the
// removing loop removed.
func (r *Relay) look(ctx context.Context) error {
	r.mu.Lock()
	r.scanning = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.scanning = false
		for _, id := range r.removed {
			delete(r.removing, id)
		}
		r.removed = nil
	}()
	if !r.indexed {
		if err := r.ensureIndex(ctx); err != nil {
			return err
		}
		r.indexed = true
	}
	return r.drain(ctx)
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

// drain publishes everything pending in the collection. A document whose
// messages cannot be read is logged and skipped, so that it holds up no
// other, and is looked at again at the next poll; a failure to publish or
// to read ends the pass, since the bus or the database is then down for
// every document alike.
func (r *Relay) drain(ctx context.Context) error {
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
				r.log.Error("pending event cannot be published", "err", err)
			case err != nil:
				return err
			}
		}
		// Documents stay pending if they were skipped, are being removed
		// by the removing loop, or were written to again meanwhile; query again only when this
		// batch moved, or the skipped ones would fill every batch forever.
		if len(docs) < batchSize || !progress {
			return nil
		}
	}
}

// pendingFilter matches the documents with a pending message: every
// message has an id, so a non-empty outbox has one. FerretDB 1.24 and
// MongoDB both match it this way, and MongoDB answers it from the sparse
// index on the same path, which holds just these documents.
var pendingFilter = bson.D{{Key: Field + ".id", Value: bson.D{{Key: "$exists", Value: true}}}}

// ensureIndex creates the index of pendingFilter if it is missing.
func (r *Relay) ensureIndex(ctx context.Context) error {
	_, err := r.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: Field + ".id", Value: 1}},
		Options: options.Index().SetName("outbox_pending").SetSparse(true),
	})
	if err != nil {
		return fmt.Errorf("outbox: create index: %w", err)
	}
	return nil
}

func (r *Relay) find(ctx context.Context) ([]bson.Raw, error) {
	filter := pendingFilter
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

// publish publishes the messages of d that are not published yet, in
// order, and removes each once it is published. It stops at the first failure, so that
// a later event never overtakes an earlier one, and returns how many it
// published.
func (r *Relay) publish(ctx context.Context, d pending) (int, error) {
	n := 0
	for i, v := range d.outbox {
		raw, ok := v.DocumentOK()
		if !ok {
			return n, &badMessageError{key: d.key, err: fmt.Errorf("element %d is a %s", i, v.Type)}
		}
		var m Message
		if err := bson.Unmarshal(raw, &m); err != nil {
			return n, &badMessageError{key: d.key, err: fmt.Errorf("element %d: %w", i, err)}
		}
		if m.Subject == "" {
			return n, &badMessageError{key: d.key, err: fmt.Errorf("element %d has no subject", i)}
		}
		r.mu.Lock()
		removing := r.removing[m.ID]
		r.mu.Unlock()
		if removing {
			continue // published, its removal is on its way
		}
		if err := r.pub.Publish(ctx, m.Subject, m.Data); err != nil {
			return n, fmt.Errorf("outbox: document %s: publish %s: %w", d.key, m.ID, err)
		}
		n++
		r.mu.Lock()
		if q := r.queued[m.ID]; q != nil {
			q.done = true
			delete(r.queued, m.ID)
		}
		r.mu.Unlock()
		// Removed here rather than by the removing loop, so that the next
		// query of the pass no longer finds it.
		if err := r.removeNow(ctx, &entry{id: d.id, key: d.key, msg: m, raw: raw}); err != nil {
			return n, err
		}
		r.log.Debug("event published", "document", d.key, "subject", m.Subject, "message", m.ID)
	}
	return n, nil
}

// removeNow removes e, finishing even when ctx has just been cancelled.
func (r *Relay) removeNow(ctx context.Context, e *entry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	return r.remove(ctx, []*entry{e})
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
