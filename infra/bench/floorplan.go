package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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

// floorCollection is one of the services' collections as the floor
// mirrors it: its documents' shape and its indexes.
type floorCollection struct {
	service, name string
	indexes       []mongo.IndexModel
	doc           func(id bson.ObjectID) bson.D
}

// pendingIndex is the outbox relay's index of the documents with pending
// events.
var pendingIndex = mongo.IndexModel{
	Keys:    bson.D{{Key: "outbox.id", Value: 1}},
	Options: options.Index().SetName("outbox_pending").SetSparse(true),
}

// pending is an outbox array of one message of size bytes of JSON, with
// the fields outbox.New gives it.
func pending(subject string, size int) bson.A {
	return bson.A{bson.D{{Key: "id", Value: rand.Text()}, {Key: "subject", Value: subject}, {Key: "data", Value: make([]byte, size)},
		{Key: "at", Value: time.Now().UTC().Truncate(time.Millisecond)}}}
}

var someUser = bson.NewObjectID().Hex()

// floorCollections are the collections of the services' stores, with the
// fields of their documents and the indexes their stores and relays
// create.
var floorCollections = []floorCollection{
	{service: "auth", name: "users",
		indexes: []mongo.IndexModel{{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true).SetName("email_unique")}},
		doc: func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "email", Value: id.Hex() + "@example.com"}, {Key: "password", Value: encodeHash(make([]byte, 16), make([]byte, 64))}}
		}},
	{service: "tickets", name: "tickets",
		indexes: []mongo.IndexModel{
			{Keys: bson.D{{Key: "orderId", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("orderId_id")},
			{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "orderId", Value: 1}}, Options: options.Index().SetName("userId_orderId")},
			pendingIndex,
		},
		doc: func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "title", Value: "load test concert"}, {Key: "price", Value: int64(2000)},
				{Key: "userId", Value: someUser}, {Key: "version", Value: int64(0)}, {Key: "outbox", Value: pending("ticket:created", 130)}}
		}},
	{service: "orders", name: "tickets",
		doc: func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "title", Value: "load test concert"}, {Key: "price", Value: int64(2000)}, {Key: "version", Value: int64(0)}}
		}},
	{service: "orders", name: "claims",
		doc: func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "orderId", Value: bson.NewObjectID()}, {Key: "createdAt", Value: time.Now()}}
		}},
	{service: "orders", name: "orders",
		indexes: []mongo.IndexModel{
			{Keys: bson.D{{Key: "userId", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("userId_id")},
			{Keys: bson.D{{Key: "status", Value: 1}, {Key: "expiresAt", Value: 1}}, Options: options.Index().SetName("status_expiresAt")},
			pendingIndex,
		},
		doc: func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "userId", Value: someUser}, {Key: "status", Value: "created"},
				{Key: "expiresAt", Value: time.Now().Add(15 * time.Minute)}, {Key: "ticketId", Value: bson.NewObjectID()},
				{Key: "version", Value: int64(0)}, {Key: "outbox", Value: pending("order:created", 220)}}
		}},
	{service: "payments", name: "orders",
		doc: func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "userId", Value: someUser}, {Key: "status", Value: "created"},
				{Key: "price", Value: int64(2000)}, {Key: "version", Value: int64(0)}, {Key: "expiresAt", Value: time.Now().Add(15 * time.Minute)}}
		}},
	{service: "payments", name: "payments",
		indexes: []mongo.IndexModel{{Keys: bson.D{{Key: "orderId", Value: 1}}, Options: options.Index().SetUnique(true).SetName("orderId_unique")}, pendingIndex},
		doc: func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "orderId", Value: bson.NewObjectID().Hex()}, {Key: "status", Value: "pending"},
				{Key: "createdAt", Value: time.Now()}, {Key: "token", Value: "tok_visa"}, {Key: "claimedAt", Value: time.Now()}}
		}},
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
			docs[i] = fc.doc(ids[i])
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
		stories = append(stories, st)
	}
	last := stories[len(stories)-1]
	// A story without a request, such as an expiry, has nothing to time
	// but the whole iteration, as its step times the whole of it.
	timed := slices.ContainsFunc(last.Commands, func(c Command) bool { return !c.Async })
	return func(ctx context.Context, w, i int) (start, end time.Time, err error) {
		// The documents this iteration inserted, by floor collection:
		// later commands of its stories act on them.
		mine := map[string]bson.ObjectID{}
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
						if err := f.exec(ctx, c, mine, w, i); err != nil {
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

// exec sends one command of a budget to the floor's mirror of its
// collection: a find, update or delete of the document the iteration
// inserted there, or else of one inserted before; an insert of a new
// document of the collection's shape.
func (f *floor) exec(ctx context.Context, c Command, mine map[string]bson.ObjectID, w, i int) error {
	name := floorName(c.Service, c.Collection)
	coll := f.c.Database(floorDB).Collection(name)
	switch c.Command {
	case "insert":
		fc, ok := floorCollectionOf(c.Service, c.Collection)
		if !ok {
			return errors.New("no such floor collection")
		}
		id := bson.NewObjectID()
		if _, err := coll.InsertOne(ctx, fc.doc(id)); err != nil {
			return err
		}
		mine[name] = id
		f.mu.Lock()
		f.known[name] = append(f.known[name], id)
		f.mu.Unlock()
		return nil
	case "find":
		var doc bson.Raw
		return coll.FindOne(ctx, bson.D{{Key: "_id", Value: f.target(name, mine, w, i)}},
			options.FindOne().SetProjection(bson.D{{Key: "outbox", Value: 0}})).Decode(&doc)
	case "update":
		res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: f.target(name, mine, w, i)}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: int64(i)}}}})
		if err == nil && res.MatchedCount == 0 {
			err = mongo.ErrNoDocuments
		}
		return err
	case "delete":
		// Only a document of the iteration's own: deleting one another
		// iteration may still read would fail it.
		id, ok := mine[name]
		if !ok {
			id = bson.NewObjectID()
		}
		delete(mine, name)
		_, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
		return err
	}
	return fmt.Errorf("no floor for command %q", c.Command)
}

// target is the document a find or update acts on: the iteration's own,
// or else one inserted before, spread over the workers.
func (f *floor) target(name string, mine map[string]bson.ObjectID, w, i int) bson.ObjectID {
	if id, ok := mine[name]; ok {
		return id
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	known := f.known[name]
	return known[(w*31+i)%len(known)]
}

func floorCollectionOf(service, collection string) (floorCollection, bool) {
	for _, fc := range floorCollections {
		if fc.service == service && fc.name == collection {
			return fc, true
		}
	}
	return floorCollection{}, false
}

// String names a plan by its stories, as the report shows it.
func (p FloorPlan) String() string { return strings.Join(p.Stories, " + ") }
