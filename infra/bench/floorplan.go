package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/outbox"
)

// FloorPlan is what the floor of a step that writes runs per iteration:
// the budgets of Stories, one after the other, each story's request part
// first and then its Async part, timing the request part of the last
// story, as the step times its requests (the whole iteration when that
// story has no request part). The polls the load tool makes
// while events travel are not part of it: their number depends on the
// services' speed, not on the design.
type FloorPlan struct {
	Stories []string
}

// FloorPlans are the floors of the steps that write, by step.
var FloorPlans = map[string]FloorPlan{
	"create": {Stories: []string{"create"}},
	"order":  {Stories: []string{"order"}},
	// The pay step places an order for each payment and times the payment.
	"pay": {Stories: []string{"order", "pay"}},
	// The expire step puts a ticket on sale, orders it and waits for the
	// order to expire; the floor does not wait out the lock.
	"expire": {Stories: []string{"create", "order", "expire"}},
}

// commands returns how many commands one iteration of p sends.
func (p FloorPlan) commands() float64 {
	var n float64
	for _, name := range p.Stories {
		st, _ := BudgetOf(name)
		for _, c := range st.Commands {
			n += c.Count
		}
	}
	return n
}

// floorName is the floor's collection for a service's collection.
func floorName(service, collection string) string { return service + "_" + collection }

func (f *floor) coll(service, collection string) *mongo.Collection {
	return f.c.Database(floorDB).Collection(floorName(service, collection))
}

// seedDocs is how many documents each floor collection starts with, for
// the stories that read or update a document they did not insert.
const seedDocs = 100

// prepareCollections creates the floor's collections with their indexes
// and seedDocs documents each.
func (f *floor) prepareCollections(ctx context.Context) error {
	for _, fc := range floorCollections {
		coll := f.coll(fc.service, fc.name)
		if len(fc.indexes) > 0 {
			if _, err := coll.Indexes().CreateMany(ctx, fc.indexes); err != nil {
				return fmt.Errorf("floor: index %s: %w", coll.Name(), err)
			}
		}
		docs := make([]any, seedDocs)
		ids := make([]bson.ObjectID, seedDocs)
		for i := range docs {
			ids[i] = bson.NewObjectID()
			docs[i], _ = fc.doc(ids[i])
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			return fmt.Errorf("floor: seed %s: %w", coll.Name(), err)
		}
		f.known[coll.Name()] = ids
	}
	return nil
}

// rows returns how many documents the floor's collection for a kind of
// load.RowSteps holds.
func (f *floor) rows(ctx context.Context, rows string) (int, error) {
	n, err := f.coll(rows, rows).EstimatedDocumentCount(ctx)
	if err != nil {
		return 0, fmt.Errorf("floor: count %s: %w", rows, err)
	}
	return int(n), nil
}

// plan returns the floor operation that runs p.
func (f *floor) plan(p FloorPlan) (op, error) {
	var stories []Story
	for _, name := range p.Stories {
		st, ok := BudgetOf(name)
		if !ok {
			return nil, fmt.Errorf("floor: no budget for the story %q", name)
		}
		for _, c := range st.Commands {
			if _, ok := floorCollectionOf(c.Service, c.Collection); !ok {
				return nil, fmt.Errorf("floor: %s: no floor collection for %s.%s", name, c.Service, c.Collection)
			}
			if c.Command == "update" && c.Reason != relayRemoval && storeUpdates[name][c.Service+"."+c.Collection] == nil {
				return nil, fmt.Errorf("floor: %s: no store update of %s.%s", name, c.Service, c.Collection)
			}
		}
		stories = append(stories, st)
	}
	last := stories[len(stories)-1]
	// A story without a request, such as an expiry, has nothing to time
	// but the whole iteration, as its step times the whole of it.
	timed := slices.ContainsFunc(last.Commands, func(c Command) bool { return !c.Async })
	return func(ctx context.Context, w, i int) (start, end time.Time, err error) {
		it := &iteration{w: w, i: i, docs: map[string]bson.ObjectID{}, inserted: map[string]bool{}, pending: map[string][]bson.D{}}
		for k, st := range stories {
			for _, async := range []bool{false, true} {
				if timed && k == len(stories)-1 && !async {
					start = time.Now()
				}
				for _, c := range st.Commands {
					if c.Async != async {
						continue
					}
					for range int(math.Round(c.Count)) {
						if err := f.exec(ctx, st.Name, c, it); err != nil {
							return start, end, fmt.Errorf("%s: %s %s.%s: %w", st.Name, c.Command, c.Service, c.Collection, err)
						}
					}
				}
				if timed && k == len(stories)-1 && !async {
					end = time.Now()
				}
			}
		}
		return start, end, nil
	}, nil
}

// iteration is what the commands of one floor iteration share, by floor
// collection.
type iteration struct {
	w, i int
	// docs are the documents the iteration acts on: the one it inserted,
	// or else one inserted before, picked once.
	docs     map[string]bson.ObjectID
	inserted map[string]bool
	// pending are the events its writes left pending in docs, oldest
	// first: what the relay's removals take out.
	pending map[string][]bson.D
}

// exec sends one command of story's budget to the floor's mirror of its
// collection, as the collection's store sends it (floorstores.go): an
// insert of a new document; a find, update or delete of the document the
// iteration inserted there, or else of one inserted before; the relay's
// removal of the event the iteration left pending there first.
func (f *floor) exec(ctx context.Context, story string, c Command, it *iteration) error {
	fc, _ := floorCollectionOf(c.Service, c.Collection) // plan checked it
	name := floorName(c.Service, c.Collection)
	coll := f.c.Database(floorDB).Collection(name)
	switch {
	case c.Command == "insert":
		id := bson.NewObjectID()
		doc, event := fc.doc(id)
		var err error
		if fc.grouped {
			_, err = coll.InsertMany(ctx, []any{doc}, options.InsertMany().SetOrdered(false))
		} else {
			_, err = coll.InsertOne(ctx, doc)
		}
		if err != nil {
			return err
		}
		it.docs[name], it.inserted[name] = id, true
		if event != nil {
			it.pending[name] = append(it.pending[name], event)
		}
		f.mu.Lock()
		f.known[name] = append(f.known[name], id)
		f.mu.Unlock()
		return nil
	case c.Command == "find":
		opts := options.FindOne()
		if fc.outbox {
			opts.SetProjection(outbox.Without)
		}
		var doc bson.Raw
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: f.doc(it, name)}}, opts).Decode(&doc)
	case c.Command == "update" && c.Reason == relayRemoval:
		return f.removeEvent(ctx, coll, it)
	case c.Command == "update":
		update, event := storeUpdates[story][c.Service+"."+c.Collection](int64(it.i + 1))
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: f.doc(it, name)}}, update)
		if err == nil && res.MatchedCount == 0 {
			err = mongo.ErrNoDocuments
		}
		if err == nil && event != nil {
			it.pending[name] = append(it.pending[name], event)
		}
		return err
	case c.Command == "delete":
		// Only a document of the iteration's own: deleting one another
		// iteration may still read would fail it.
		id := bson.NewObjectID()
		if it.inserted[name] {
			id = it.docs[name]
			delete(it.docs, name)
			delete(it.inserted, name)
		}
		_, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		return err
	}
	return fmt.Errorf("no floor for command %q", c.Command)
}

// removeEvent is the outbox relay's removal of the oldest event the
// iteration left pending in the collection, as outbox's Relay.remove sends
// it: a bulk write of an updateMany by _id that pulls the message exactly
// as stored.
func (f *floor) removeEvent(ctx context.Context, coll *mongo.Collection, it *iteration) error {
	name := coll.Name()
	if len(it.pending[name]) == 0 {
		return errors.New("no event pending: the budget removes one before any is stored")
	}
	event := it.pending[name][0]
	it.pending[name] = it.pending[name][1:]
	remove := mongo.NewUpdateManyModel().
		SetFilter(bson.D{{Key: "_id", Value: it.docs[name]}}).
		SetUpdate(bson.D{{Key: "$pullAll", Value: bson.D{{Key: outbox.Field, Value: bson.A{event}}}}})
	_, err := coll.BulkWrite(ctx, []mongo.WriteModel{remove}, options.BulkWrite().SetOrdered(false))
	return err
}

// doc is the document the iteration acts on in the collection: the one it
// inserted, or else one inserted before, spread over the workers and kept
// for the iteration's later commands.
func (f *floor) doc(it *iteration, name string) bson.ObjectID {
	if id, ok := it.docs[name]; ok {
		return id
	}
	f.mu.Lock()
	known := f.known[name]
	id := known[(it.w*31+it.i)%len(known)]
	f.mu.Unlock()
	it.docs[name] = id
	return id
}

// String names a plan by its stories, as the report shows it.
func (p FloorPlan) String() string { return strings.Join(p.Stories, " + ") }
