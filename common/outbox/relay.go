package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/keylock"
	"ticketing.dev/common/requestid"
)

// DefaultPollInterval is how often a relay first looks in the collection
// for pending messages that nobody handed it, such as those of another
// process. Each look that finds none doubles the interval, up to
// maxPollFactor times this; one that finds some resets it.
const DefaultPollInterval = 5 * time.Second

const (
	minBackoff = 100 * time.Millisecond
	// maxBackoff is short because a publish fails fast while the bus is
	// disconnected: the first attempt after NATS Streaming is back should
	// not wait long.
	maxBackoff = time.Second
	// maxPollFactor bounds the backed-off poll: a look reads every pending
	// document, so a busy service that never finds anything should rarely
	// pay for it.
	maxPollFactor = 12
	// lookShare stretches the backed-off poll further where a look is
	// dear: to lookShare times as long as the last look's query took, so
	// that looks nobody asked for take at most 1/lookShare of the time. On
	// MongoDB a look reads its sparse index, in a millisecond; on FerretDB
	// it reads every document of the collection, seconds once it is large,
	// which stalled the service's requests every time it ran.
	lookShare = 1000
	// maxQueued bounds the messages a relay keeps in memory. Beyond it, it
	// forgets them and finds them in the collection instead.
	maxQueued = 10_000
)

// Option configures a Relay.
type Option func(*Relay)

// WithPollInterval sets how often the relay first looks for pending
// messages in the collection; the default is DefaultPollInterval.
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
	share   int // lookShare; tests change it
	running atomic.Bool
	// Only Run's goroutine reads these two, set by looks.
	indexed  bool          // by the first look
	lastFind time.Duration // how long the last look's query took

	wake     chan struct{} // Stored or Notify: work for the publishing loop
	removals chan struct{} // published messages: work for the removing loop

	maxQueued int

	mu     sync.Mutex
	scan   bool              // look in the collection before publishing the queue
	rewind bool              // Notify: the poll starts over after the look
	queue  []*entry          // handed over by Stored, not yet published, oldest first
	queued map[string]*entry // queue by message id
	gen    int               // counts the times Stored dropped the queue
	// held are the documents a running look found pending and has not
	// published yet, by lock key: their handed-over messages wait, since
	// older ones of theirs go first.
	held     map[string]bool
	found    int       // messages a running look found and has not published
	foundAt  time.Time // the oldest of them
	toRemove []*entry  // published, not yet removed, oldest first
	removing map[string]bool
	// removing holds toRemove's message ids and, while a look runs, those
	// removed since it began, which it may have read before their removal.
	scanning bool     // a look runs
	removed  []string // message ids removed since the look began
}

// entry is one message of one document.
type entry struct {
	id   bson.RawValue // the document's _id
	key  string        // its lock key
	msg  Message
	raw  bson.Raw  // the message exactly as stored, for its removal
	at   time.Time // when it was handed over
	done bool      // published by a look in the collection meanwhile
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
		share:     lookShare,
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

// Locks are the locks the relay takes to remove a published message: the
// ones the collection's store must hold around its writes.
func (r *Relay) Locks() *keylock.Locks { return r.locks }

// Stats is what a relay has still to publish.
type Stats struct {
	// Pending counts the messages handed over and not yet published, and
	// those a running look found and has not published yet.
	Pending int
	// Oldest is when the oldest of them was made; zero when none is.
	Oldest time.Time
}

// Stats returns the relay's backlog, for metrics. Messages of other
// processes count only once a look has found them.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Pending: r.found, Oldest: r.foundAt}
	for _, e := range r.queue {
		if e.done {
			continue
		}
		if s.Pending++; s.Oldest.IsZero() || e.at.Before(s.Oldest) {
			s.Oldest = e.at
		}
	}
	return s
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
	now := time.Now()
	entries := make([]*entry, 0, len(msgs))
	for _, m := range msgs {
		raw, err := bson.Marshal(m)
		if err != nil {
			r.log.Error("unencodable pending message; looking in the collection instead", "document", key, "err", err)
			r.Notify()
			return
		}
		at := m.At
		if at.IsZero() {
			at = now
		}
		entries = append(entries, &entry{id: rid, key: key, msg: m, raw: raw, at: at})
	}

	r.mu.Lock()
	if len(r.queue)+len(entries) > r.maxQueued {
		// The bus has been down for long: keep memory bounded and publish
		// from the collection once it is back.
		clear(r.queued)
		r.queue = nil
		r.gen++
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

// Notify asks the relay to look in the collection for pending messages
// that nobody handed it, at once and again on a poll that starts over.
// Call it after a write that would have stored messages and failed: a
// write that fails in the client (a timeout, a dropped connection, a
// cancelled request) may still be applied by the server, even after the
// first look. It never blocks.
func (r *Relay) Notify() {
	r.mu.Lock()
	r.scan, r.rewind = true, true
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
// over by Stored and those found in the collection by its poll, until ctx
// is done; it then returns nil. Failures are logged and retried with
// backoff until the server accepts the message, so nothing is dropped.
// One relay runs per collection and process; relays of other processes on
// the same collection are safe but may publish a message twice.
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

	interval := r.poll
	poll := time.NewTimer(interval)
	defer poll.Stop()
	backoff := minBackoff
	failing := false
	for {
		found, err := r.publishPending(ctx)
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
		if found >= 0 {
			// A look ran: the poll starts over when it found something
			// nobody had handed over or when Notify asked for it, and
			// backs off otherwise.
			r.mu.Lock()
			rewind := r.rewind
			r.rewind = false
			r.mu.Unlock()
			if found > 0 || rewind {
				interval = r.poll
			} else {
				interval = min(2*interval, max(maxPollFactor*r.poll, time.Duration(r.share)*r.lastFind))
			}
			poll.Reset(interval)
		}
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
// queue. It returns how many messages a look published that nobody had
// handed over, or -1 when no look ran.
func (r *Relay) publishPending(ctx context.Context) (found int, err error) {
	r.mu.Lock()
	scan := r.scan
	r.scan = false
	r.mu.Unlock()
	found = -1
	if scan {
		if found, err = r.look(ctx); err != nil {
			r.mu.Lock()
			r.scan = true
			r.mu.Unlock()
			return found, err
		}
	}
	return found, r.publishQueue(ctx)
}

// publishQueue publishes the handed-over messages, a batch at a time, but
// for those of documents a running look holds: older messages of theirs
// go first, and they stay queued, in order, until the look has published
// those.
func (r *Relay) publishQueue(ctx context.Context) error {
	for ctx.Err() == nil {
		r.mu.Lock()
		gen := r.gen
		var docs [][]*entry
		at := make(map[string]int) // docs' index by key
		n := 0
		for _, e := range r.queue {
			if n == queueBatch {
				break
			}
			if e.done || r.held[e.key] {
				continue
			}
			i, ok := at[e.key]
			if !ok {
				i = len(docs)
				at[e.key] = i
				docs = append(docs, nil)
			}
			docs[i] = append(docs[i], e)
			n++
		}
		r.mu.Unlock()
		if n == 0 {
			r.mu.Lock()
			r.compactQueue()
			r.mu.Unlock()
			return nil
		}
		err := r.publishDocs(ctx, docs, func(e *entry) {
			e.done = true
			if r.gen == gen { // else Stored dropped the queue meanwhile
				delete(r.queued, e.msg.ID)
			}
			r.published(e)
		})
		r.mu.Lock()
		r.compactQueue()
		dropped := r.gen != gen
		r.mu.Unlock()
		if err != nil || dropped {
			// A dropped queue asked for a look, which finds the rest in
			// the collection.
			return err
		}
	}
	return nil
}

// queueBatch bounds the handed-over messages one round of publishQueue
// publishes before it looks at the queue again.
const queueBatch = 512

// publishConcurrency is how many documents' messages are published at
// once. The publishes of one document are sequential, each awaiting the
// server's ack, so that its events keep their order; those of different
// documents overlap, since one publish waits a round trip for its ack.
const publishConcurrency = 16

// publishDocs publishes the messages of each document, in order, several
// documents at once, calling published with r.mu held after each publish.
// A failure stops its document there, so that no later message of it
// overtakes the failed one; the others go on. It returns the first
// failure.
func (r *Relay) publishDocs(ctx context.Context, docs [][]*entry, published func(*entry)) error {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, publishConcurrency)
		errMu sync.Mutex
		first error
	)
	for _, doc := range docs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, e := range doc {
				if err := r.pub.PublishID(requestid.With(ctx, e.msg.RequestID), e.msg.ID, e.msg.Subject, e.msg.Data); err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("outbox: document %s: publish %s: %w", e.key, e.msg.ID, err)
					}
					errMu.Unlock()
					return
				}
				r.mu.Lock()
				published(e)
				r.mu.Unlock()
				r.log.Debug("event published", "document", e.key, "subject", e.msg.Subject, "message", e.msg.ID)
			}
		})
	}
	wg.Wait()
	return first
}

// compactQueue drops the published entries from the queue; r.mu must be
// held.
func (r *Relay) compactQueue() {
	q := r.queue[:0]
	for _, e := range r.queue {
		if !e.done {
			q = append(q, e)
		}
	}
	clear(r.queue[len(q):])
	if len(q) == 0 {
		q = nil // let the backing array go
	}
	r.queue = q
}

// published queues e's removal; r.mu must be held.
func (r *Relay) published(e *entry) {
	r.toRemove = append(r.toRemove, e)
	r.removing[e.msg.ID] = true
	signal(r.removals)
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
