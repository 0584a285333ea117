package mongodb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Guard writes one document, found by _id, only while some of its fields
// still hold the values its writer read: a version for an update, an owner
// for a delete.
//
// MongoDB checks that field in the write's filter. FerretDB's SQLite
// backend (the embedded server of `make run` and the tests) uses its _id
// index only when the filter is a lone _id; with any other field it reads
// and decodes the whole collection on every write, ~25 ms at 10,000
// documents, under its write lock. On FerretDB, Guard therefore reads the
// fields by _id and then writes by _id alone. That loses nothing: FerretDB
// does not apply a filtered write atomically either (8 writers racing on
// one version all "succeeded"), so there the guarantee always came from
// the document's keylock, which every caller holds across the call, and
// from each service being one process on that server. Real MongoDB, which
// Kubernetes runs, keeps the check in the filter, atomic across replicas.
//
// A writer that has just read the document under its keylock, and holds
// the lock still, writes with UpdateLocked: it knows the fields already,
// and on FerretDB a second read would tell it nothing the lock does not.
type Guard struct {
	db *mongo.Database

	mu     sync.Mutex
	known  bool
	ferret bool
}

// NewGuard returns a Guard for collections of db.
func NewGuard(db *mongo.Database) *Guard {
	return &Guard{db: db}
}

// UpdateOne applies update to the document id when it holds every field
// of held with its value, and reports whether it did.
func (g *Guard) UpdateOne(ctx context.Context, coll *mongo.Collection, id any, held bson.D, update any) (bool, error) {
	return g.update(ctx, coll, id, held, update, true)
}

// UpdateLocked is UpdateOne for a writer that read held's values from the
// document while holding its keylock, and holds the lock still. On MongoDB
// the filter checks held, as UpdateOne's does; on FerretDB the write goes
// by _id alone, without reading the document again.
func (g *Guard) UpdateLocked(ctx context.Context, coll *mongo.Collection, id any, held bson.D, update any) (bool, error) {
	return g.update(ctx, coll, id, held, update, false)
}

func (g *Guard) update(ctx context.Context, coll *mongo.Collection, id any, held bson.D, update any, read bool) (bool, error) {
	filter, ok, err := g.filter(ctx, coll, id, held, read)
	if err != nil || !ok {
		return false, err
	}
	res, err := coll.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// DeleteOne deletes the document id when it holds every field of held
// with its value, and reports whether it did.
func (g *Guard) DeleteOne(ctx context.Context, coll *mongo.Collection, id any, held bson.D) (bool, error) {
	filter, ok, err := g.filter(ctx, coll, id, held, true)
	if err != nil || !ok {
		return false, err
	}
	res, err := coll.DeleteOne(ctx, filter)
	if err != nil {
		return false, err
	}
	return res.DeletedCount == 1, nil
}

// filter returns the write's filter, or false when a read shows that the
// document does not hold held (or is gone). On FerretDB it reads the
// document only when asked to.
func (g *Guard) filter(ctx context.Context, coll *mongo.Collection, id any, held bson.D, read bool) (bson.D, bool, error) {
	ferret, err := g.server(ctx)
	if err != nil {
		return nil, false, err
	}
	byID := bson.D{{Key: "_id", Value: id}}
	if !ferret {
		return append(byID, held...), true, nil
	}
	if !read {
		return byID, true, nil
	}
	fields := make(bson.D, len(held))
	for i, e := range held {
		fields[i] = bson.E{Key: e.Key, Value: 1}
	}
	doc, err := coll.FindOne(ctx, byID, options.FindOne().SetProjection(fields)).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, e := range held {
		ok, err := holds(doc, e)
		if err != nil || !ok {
			return nil, false, err
		}
	}
	return byID, true, nil
}

// holds reports whether doc's field e.Key is e.Value, of the same BSON
// type: what an equality filter matches for the scalars stores compare.
func holds(doc bson.Raw, e bson.E) (bool, error) {
	got, err := doc.LookupErr(e.Key)
	if err != nil {
		return false, nil // absent: it does not hold the value
	}
	typ, data, err := bson.MarshalValue(e.Value)
	if err != nil {
		return false, fmt.Errorf("mongodb: guard %s: %w", e.Key, err)
	}
	return got.Type == typ && bytes.Equal(got.Value, data), nil
}

// server reports, once it has asked, whether the server is FerretDB.
func (g *Guard) server(ctx context.Context) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.known {
		return g.ferret, nil
	}
	info, err := g.db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Raw()
	if err != nil {
		return false, fmt.Errorf("mongodb: buildInfo: %w", err)
	}
	_, err = info.LookupErr("ferretdbVersion")
	g.known, g.ferret = true, err == nil
	return g.ferret, nil
}

// ApplyVersion applies update, which takes the replica id to version,
// when the replica holds the version before it: a replica applies its
// source's versions one after another. A replica at version or past it
// has applied it already (a redelivery), and nil is returned. A replica
// that is missing or further behind fails with behind, wrapped, so that
// the event is redelivered once the versions before it have come. On
// FerretDB one read by _id decides, and the write goes by _id, so the
// caller holds id's keylock, as for UpdateLocked; on MongoDB the write
// filters on version-1 and a read follows only when it missed.
func (g *Guard) ApplyVersion(ctx context.Context, coll *mongo.Collection, id bson.ObjectID, version int64, update any, behind error) error {
	ferret, err := g.server(ctx)
	if err != nil {
		return err
	}
	byID := bson.D{{Key: "_id", Value: id}}
	if !ferret {
		res, err := coll.UpdateOne(ctx, append(byID, bson.E{Key: "version", Value: version - 1}), update)
		if err != nil || res.MatchedCount == 1 {
			return err
		}
	}
	// On FerretDB the one read decides (see Guard); on MongoDB it says why
	// the write did not match: applied already, or an earlier version is
	// missing.
	var held struct {
		Version int64 `bson:"version"`
	}
	err = coll.FindOne(ctx, byID, options.FindOne().SetProjection(bson.D{{Key: "version", Value: 1}})).Decode(&held)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return fmt.Errorf("%s version %d: not created yet: %w", id.Hex(), version, behind)
	case err != nil:
		return err
	case held.Version >= version:
		return nil
	case held.Version < version-1 || !ferret:
		// On MongoDB, version-1 here was written by another process since
		// the update missed: the redelivered event applies it.
		return fmt.Errorf("%s version %d: the replica holds version %d: %w", id.Hex(), version, held.Version, behind)
	}
	_, err = coll.UpdateOne(ctx, byID, update)
	return err
}
