package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func guards(db *mongo.Database) map[string]*mongodb.Guard {
	return map[string]*mongodb.Guard{
		"detected":  mongodb.NewGuard(db),
		"in filter": mongodb.NewFilterGuard(db),
	}
}

func TestGuard_UpdatesOnlyAtTheHeldValue(t *testing.T) {
	ctx := context.Background()
	for name, g := range guards(testkit.DB(t)) {
		t.Run(name, func(t *testing.T) {
			coll := testkit.DB(t).Collection("docs")
			id := bson.NewObjectID()
			_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: int64(3)}})
			require.NoError(t, err)
			bump := func(to int64) bson.D {
				return bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: to}}}}
			}

			ok, err := g.UpdateOne(ctx, coll, id, bson.D{{Key: "version", Value: int64(2)}}, bump(9))
			require.NoError(t, err)
			assert.False(t, ok, "a stale version is refused")

			ok, err = g.UpdateOne(ctx, coll, id, bson.D{{Key: "version", Value: int64(3)}}, bump(4))
			require.NoError(t, err)
			assert.True(t, ok)

			ok, err = g.UpdateOne(ctx, coll, bson.NewObjectID(), bson.D{{Key: "version", Value: int64(4)}}, bump(5))
			require.NoError(t, err)
			assert.False(t, ok, "a missing document is not updated")

			ok, err = g.UpdateOne(ctx, coll, id, bson.D{{Key: "owner", Value: "x"}}, bump(5))
			require.NoError(t, err)
			assert.False(t, ok, "a field the document lacks does not hold the value")

			var got struct{ Version int64 }
			require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got))
			assert.Equal(t, int64(4), got.Version)
		})
	}
}

func TestGuard_DeletesOnlyForTheHeldValue(t *testing.T) {
	ctx := context.Background()
	for name, g := range guards(testkit.DB(t)) {
		t.Run(name, func(t *testing.T) {
			coll := testkit.DB(t).Collection("claims")
			id, owner := bson.NewObjectID(), bson.NewObjectID()
			_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "orderId", Value: owner}})
			require.NoError(t, err)

			ok, err := g.DeleteOne(ctx, coll, id, bson.D{{Key: "orderId", Value: bson.NewObjectID()}})
			require.NoError(t, err)
			assert.False(t, ok, "another owner's claim stays")

			ok, err = g.DeleteOne(ctx, coll, id, bson.D{{Key: "orderId", Value: owner}})
			require.NoError(t, err)
			assert.True(t, ok)
			n, err := coll.CountDocuments(ctx, bson.D{})
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
}

func TestGuard_EveryHeldFieldMustMatch(t *testing.T) {
	ctx := context.Background()
	claimed := time.Now().UTC().Truncate(time.Millisecond)
	for name, g := range guards(testkit.DB(t)) {
		t.Run(name, func(t *testing.T) {
			coll := testkit.DB(t).Collection("payments")
			id := bson.NewObjectID()
			_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "status", Value: "pending"}, {Key: "claimedAt", Value: claimed}})
			require.NoError(t, err)
			abandon := bson.D{{Key: "$set", Value: bson.D{{Key: "abandoned", Value: true}}}}

			ok, err := g.UpdateOne(ctx, coll, id, bson.D{{Key: "status", Value: "pending"}, {Key: "claimedAt", Value: claimed.Add(time.Millisecond)}}, abandon)
			require.NoError(t, err)
			assert.False(t, ok, "taken over since: another claimedAt")

			ok, err = g.UpdateOne(ctx, coll, id, bson.D{{Key: "status", Value: "succeeded"}, {Key: "claimedAt", Value: claimed}}, abandon)
			require.NoError(t, err)
			assert.False(t, ok, "no longer pending")

			ok, err = g.UpdateOne(ctx, coll, id, bson.D{{Key: "status", Value: "pending"}, {Key: "claimedAt", Value: claimed}}, abandon)
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

// On FerretDB the write itself must find its document by a lone _id, the
// only filter its SQLite backend answers from the index; UpdateOne and
// DeleteOne read the document first, UpdateLocked, whose caller has just
// read it under its lock, does not.
func TestGuard_WritesByALoneIDOnFerretDB(t *testing.T) {
	ctx := context.Background()
	db, rec := testkit.RecordCommands(t)
	coll := db.Collection("docs")
	id := bson.NewObjectID()
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: int64(0)}})
	require.NoError(t, err)
	bump := func(to int64) bson.D {
		return bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: to}}}}
	}
	rec.Take()

	g := mongodb.NewGuard(db)
	ok, err := g.UpdateOne(ctx, coll, id, bson.D{{Key: "version", Value: int64(0)}}, bump(1))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = g.UpdateLocked(ctx, coll, id, bson.D{{Key: "version", Value: int64(1)}}, bump(2))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = g.DeleteOne(ctx, coll, id, bson.D{{Key: "version", Value: int64(2)}})
	require.NoError(t, err)
	require.True(t, ok)

	var sent []string
	for _, c := range rec.Take() {
		sent = append(sent, c.String())
	}
	read := "find docs {filter:{_id:objectId},limit:1,projection:{version:1},singleBatch:true}"
	update := "update docs {ordered:true,updates:[{q:{_id:objectId},u:{$set:{version:long}}}]}"
	assert.Equal(t, []string{
		read, update, // UpdateOne
		update,                                                                  // UpdateLocked
		read, "delete docs {deletes:[{limit:1,q:{_id:objectId}}],ordered:true}", // DeleteOne
	}, sent)
}

// UpdateLocked checks held in the filter where the server applies it
// atomically (MongoDB); on FerretDB its caller's lock and read are the
// check, and the write goes by _id.
func TestGuard_UpdateLockedChecksInTheFilterOnMongoDB(t *testing.T) {
	ctx := context.Background()
	db := testkit.DB(t)
	coll := db.Collection("docs")
	id := bson.NewObjectID()
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: int64(3)}})
	require.NoError(t, err)
	bump := bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: int64(9)}}}}

	ok, err := mongodb.NewFilterGuard(db).UpdateLocked(ctx, coll, id, bson.D{{Key: "version", Value: int64(2)}}, bump)
	require.NoError(t, err)
	assert.False(t, ok, "a stale version is refused by the filter")

	ok, err = mongodb.NewFilterGuard(db).UpdateLocked(ctx, coll, bson.NewObjectID(), bson.D{{Key: "version", Value: int64(3)}}, bump)
	require.NoError(t, err)
	assert.False(t, ok, "a missing document is not updated")

	ok, err = mongodb.NewGuard(db).UpdateLocked(ctx, coll, id, bson.D{{Key: "version", Value: int64(3)}}, bump)
	require.NoError(t, err)
	assert.True(t, ok)
	var got struct{ Version int64 }
	require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got))
	assert.Equal(t, int64(9), got.Version)
}

func TestGuard_ApplyVersionAppliesEachVersionOnTheOneBefore(t *testing.T) {
	ctx := context.Background()
	errBehind := errors.New("behind")
	for name, g := range guards(testkit.DB(t)) {
		t.Run(name, func(t *testing.T) {
			coll := testkit.DB(t).Collection("replicas")
			id := bson.NewObjectID()
			to := func(v int64) bson.D {
				return bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: v}, {Key: "title", Value: fmt.Sprint("v", v)}}}}
			}
			apply := func(v int64) error { return g.ApplyVersion(ctx, coll, id, v, to(v), errBehind) }

			err := apply(1)
			require.ErrorIs(t, err, errBehind, "no replica yet")
			assert.Contains(t, err.Error(), "not created yet")

			_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "version", Value: int64(0)}, {Key: "title", Value: "v0"}})
			require.NoError(t, err)
			err = apply(2)
			require.ErrorIs(t, err, errBehind, "version 1 has not come")
			assert.Contains(t, err.Error(), "holds version 0")

			require.NoError(t, apply(1))
			require.NoError(t, apply(2))
			require.NoError(t, apply(1), "a redelivery of a version passed")
			require.NoError(t, apply(2), "a redelivery of the version held")

			var got struct {
				Version int64
				Title   string
			}
			require.NoError(t, coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&got))
			assert.Equal(t, int64(2), got.Version)
			assert.Equal(t, "v2", got.Title, "a redelivery changed nothing")
		})
	}
}
