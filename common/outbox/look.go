package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/mongodb"
)

const (
	// lookLimit bounds the documents one look reads, so that a long
	// outage's backlog is not read into memory at once; a look that
	// reads this many is followed by another.
	lookLimit = 10_000
	// publishBatch is how many documents a look publishes before it
	// publishes the messages handed over meanwhile, so that new events do
	// not wait for a whole backlog.
	publishBatch = 256
)

// pending is the part of an entity's document the relay reads. The
// messages stay raw so that a removal names exactly the stored element.
type pending struct {
	id     bson.RawValue
	key    string
	outbox []bson.RawValue
	// ids and ats are each message's id and when it was made, where it
	// says ("" and zero where it does not, or cannot be read), until
	// dropPublished has used them.
	ids []string
	ats []time.Time
}

// look publishes what the collection holds pending, a batch of documents
// at a time, and between batches the handed-over messages of the other
// documents. It holds the handed-over messages of the documents it found
// until it has published theirs, which are older, and returns how many
// messages it published that nobody had handed over.
func (r *Relay) look(ctx context.Context) (int, error) {
	if !r.indexed {
		if err := r.ensureIndex(ctx); err != nil {
			return 0, err
		}
		r.indexed = true
	}
	r.mu.Lock()
	r.scanning = true
	r.mu.Unlock()
	defer r.endLook()

	start := time.Now()
	docs, err := r.find(ctx)
	if err != nil {
		return 0, err
	}
	r.lastFind = time.Since(start)
	all := make([]pending, 0, len(docs))
	held, found, oldest := make(map[string]bool, len(docs)), 0, time.Time{}
	for _, doc := range docs {
		d, err := readPending(doc)
		if err != nil {
			// Held until the look ends: a later message must not
			// overtake the unreadable one.
			r.log.Error("pending event cannot be published", "err", err)
			held[d.key] = true
			continue
		}
		all = append(all, d)
		held[d.key] = true
	}
	r.mu.Lock()
	for i := range all {
		n, at := all[i].dropPublished(r.removing)
		found += n
		if !at.IsZero() && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
	}
	r.held, r.found, r.foundAt = held, found, oldest
	r.mu.Unlock()

	published := 0
	for len(all) > 0 {
		batch := all[:min(len(all), publishBatch)]
		all = all[len(batch):]
		var (
			docs [][]*entry
			keys []string
		)
		for _, d := range batch {
			es, err := r.entries(d)
			docs = append(docs, es)
			if err != nil {
				// The messages before the unreadable one go out; the
				// document stays held until the look ends.
				r.log.Error("pending event cannot be published", "err", err)
				continue
			}
			keys = append(keys, d.key)
		}
		err := r.publishDocs(ctx, docs, func(e *entry) {
			r.found--
			if q := r.queued[e.msg.ID]; q != nil {
				q.done = true
				delete(r.queued, e.msg.ID)
			} else {
				published++
			}
			r.published(e)
		})
		if err != nil {
			return published, err
		}
		r.mu.Lock()
		for _, k := range keys {
			delete(r.held, k)
		}
		r.mu.Unlock()
		if err := r.publishQueue(ctx); err != nil {
			return published, err
		}
	}
	if len(docs) == lookLimit {
		r.mu.Lock()
		r.scan = true // more may be pending than one look reads
		r.mu.Unlock()
	}
	return published, nil
}

// endLook releases what the look held, and forgets the published messages
// removed while it ran.
func (r *Relay) endLook() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scanning = false
	for _, id := range r.removed {
		delete(r.removing, id)
	}
	r.removed = nil
	r.held, r.found, r.foundAt = nil, 0, time.Time{}
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
	p.ids, p.ats = make([]string, len(p.outbox)), make([]time.Time, len(p.outbox))
	for i, v := range p.outbox {
		if raw, ok := v.DocumentOK(); ok {
			p.ids[i], _ = raw.Lookup("id").StringValueOK()
			p.ats[i], _ = raw.Lookup("at").TimeOK()
		}
	}
	return p, nil
}

// dropPublished leaves out of d the messages in removing, published and
// their removal on its way, and returns how many are left and when the
// first of them was made, if it says. A message without an id stays. The
// caller holds r.mu, which the relay's hand-overs wait on: this does only
// map look-ups.
func (d *pending) dropPublished(removing map[string]bool) (n int, oldest time.Time) {
	kept := d.outbox[:0]
	for i, v := range d.outbox {
		if id := d.ids[i]; id != "" && removing[id] {
			continue
		}
		if len(kept) == 0 {
			oldest = d.ats[i]
		}
		kept = append(kept, v)
	}
	d.outbox, d.ids, d.ats = kept, nil, nil
	return len(kept), oldest
}

// entries returns the messages of d that are not published yet, in order,
// up to the first it cannot read, if any, with the error that says why.
func (r *Relay) entries(d pending) ([]*entry, error) {
	es, err := make([]*entry, 0, len(d.outbox)), error(nil)
	for i, v := range d.outbox {
		raw, ok := v.DocumentOK()
		if !ok {
			err = &badMessageError{key: d.key, err: fmt.Errorf("element %d is a %s", i, v.Type)}
			break
		}
		var m Message
		if uerr := bson.Unmarshal(raw, &m); uerr != nil {
			err = &badMessageError{key: d.key, err: fmt.Errorf("element %d: %w", i, uerr)}
			break
		}
		if m.Subject == "" {
			err = &badMessageError{key: d.key, err: fmt.Errorf("element %d has no subject", i)}
			break
		}
		es = append(es, &entry{id: d.id, key: d.key, msg: m, raw: raw})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	unpublished := es[:0]
	for _, e := range es {
		if r.removing[e.msg.ID] {
			r.found-- // counted by the look, published since
			continue
		}
		unpublished = append(unpublished, e)
	}
	return unpublished, err
}

// pendingFilter matches the documents with a pending message: every
// message has an id, so a non-empty outbox has one. FerretDB 1.24 and
// MongoDB both match it this way, and MongoDB answers it from the sparse
// index on the same path, which holds just these documents.
var pendingFilter = bson.D{{Key: Field + ".id", Value: bson.D{{Key: "$exists", Value: true}}}}

// ensureIndex creates the index of pendingFilter if it is missing.
func (r *Relay) ensureIndex(ctx context.Context) error {
	err := mongodb.CreateIndexes(ctx, r.coll, mongo.IndexModel{
		Keys:    bson.D{{Key: Field + ".id", Value: 1}},
		Options: options.Index().SetName("outbox_pending").SetSparse(true),
	})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

func (r *Relay) find(ctx context.Context) ([]bson.Raw, error) {
	opts := options.Find().
		SetProjection(bson.D{{Key: Field, Value: 1}}).
		SetLimit(lookLimit)
	cur, err := r.coll.Find(ctx, pendingFilter, opts)
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
