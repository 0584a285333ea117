package outbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	// removeBatch bounds the published messages one bulk write removes.
	removeBatch = 256
	// removePause spaces the removals out, so that under load one bulk
	// write removes many messages: one command per batch rather than
	// one per event. A published message that waits a little longer in
	// its document costs nothing but a duplicate after a crash.
	removePause = 200 * time.Millisecond
	// removeTimeout bounds the removal of published messages once Run's
	// context is cancelled: they are already on the bus, and forgetting to
	// remove them would only publish them again.
	removeTimeout = 5 * time.Second
)

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

// remove takes published messages out of their documents by one bulk
// write of one update per document, by _id alone, under the locks of every
// document, taken in order. An update by _id alone is what both servers
// find by index: FerretDB pushes no other filter down to its backend, and
// reads and decodes every document of the collection for an {_id: {$in:
// ...}} filter. $pullAll is given the elements exactly as stored, and both
// FerretDB 1.24 and MongoDB remove the elements equal to one of them:
// exactly these messages, leaving any pushed since untouched. (FerretDB's
// $pull compares a document operand for equality too, but removes nothing
// for an {$in: ...} condition.) The updates are updateMany, which by _id
// change the same one document: FerretDB 1.24 keeps the cursor of each
// single-document update of a bulk write open until the whole command ends,
// one pooled connection each, and a batch of them exhausted its pool and
// hung; a multi-document update reads its cursor to the end and closes it.
func (r *Relay) remove(ctx context.Context, batch []*entry) error {
	type doc struct {
		id   bson.RawValue
		msgs bson.A
	}
	docs := make(map[string]*doc, len(batch)) // by lock key
	for _, e := range batch {
		d := docs[e.key]
		if d == nil {
			d = &doc{id: e.id}
			docs[e.key] = d
		}
		d.msgs = append(d.msgs, e.raw)
	}
	keys := slices.Sorted(maps.Keys(docs))
	models := make([]mongo.WriteModel, 0, len(keys))
	for _, k := range keys {
		d := docs[k]
		models = append(models, mongo.NewUpdateManyModel().
			SetFilter(bson.D{{Key: "_id", Value: d.id}}).
			SetUpdate(bson.D{{Key: "$pullAll", Value: bson.D{{Key: Field, Value: d.msgs}}}}))
	}
	for _, k := range keys {
		unlock := r.locks.Lock(k)
		defer unlock()
	}
	if _, err := r.coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("outbox: remove %d published messages of %d documents: %w", len(batch), len(keys), err)
	}
	return nil
}
