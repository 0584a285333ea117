package mongodb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/testkit"
)

func TestConnect_DatabaseIsTheURIPathOrTheDefault(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://auth-mongo-srv:27017/auth":       "auth",
		"mongodb://db:27017/users?retryWrites=true": "users",
		"mongodb://db:27017":                        "tickets",
		"mongodb://db:27017/":                       "tickets",
	} {
		client, db, err := mongodb.Connect(uri, "tickets")
		require.NoError(t, err, uri)
		assert.Equal(t, want, db.Name(), uri)
		require.NoError(t, client.Disconnect(context.Background()))
	}
}

func TestConnect_RejectsAMalformedURI(t *testing.T) {
	_, _, err := mongodb.Connect("postgres://nope", "x")
	assert.ErrorContains(t, err, "MONGO_URI")
}

func TestObjectID(t *testing.T) {
	oid, err := mongodb.ObjectID("507f1f77bcf86cd799439011")
	require.NoError(t, err)
	assert.Equal(t, "507f1f77bcf86cd799439011", oid.Hex())
	_, err = mongodb.ObjectID("nope")
	assert.ErrorIs(t, err, mongodb.ErrBadID)
}

func TestParseID_MalformedIsBothTheDomainsErrorAndErrBadID(t *testing.T) {
	invalid := errors.New("Order id must be valid")
	oid, err := mongodb.ParseID("507f1f77bcf86cd799439011", invalid)
	require.NoError(t, err)
	assert.Equal(t, "507f1f77bcf86cd799439011", oid.Hex())

	_, err = mongodb.ParseID("nope", invalid)
	assert.ErrorIs(t, err, invalid)
	assert.ErrorIs(t, err, mongodb.ErrBadID)
}

func TestCheckID_NamesTheMalformedID(t *testing.T) {
	assert.NoError(t, mongodb.CheckID("ticket", "507f1f77bcf86cd799439011"))
	for _, id := range []string{"", "nope", `{"$gt":""}`, "507f1f77bcf86cd79943901"} {
		err := mongodb.CheckID("ticket", id)
		assert.ErrorIs(t, err, mongodb.ErrBadID, id)
		assert.ErrorContains(t, err, fmt.Sprintf("malformed ticket id %q", id))
	}
}

func TestFindByID_DecodesTheDocumentOrReturnsNotFound(t *testing.T) {
	coll := testkit.DB(t).Collection("things")
	_, err := coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: "a"}, {Key: "name", Value: "first"}})
	require.NoError(t, err)
	notFound := errors.New("no such thing")

	var doc struct {
		Name string `bson:"name"`
	}
	require.NoError(t, mongodb.FindByID(t.Context(), coll, "a", &doc, notFound))
	assert.Equal(t, "first", doc.Name)
	assert.Equal(t, notFound, mongodb.FindByID(t.Context(), coll, "b", &doc, notFound))
}

func TestCreateIndexes_CreatesOnlyWhatIsMissing(t *testing.T) {
	coll := testkit.DB(t).Collection("things")
	a := mongo.IndexModel{Keys: bson.D{{Key: "a", Value: 1}}, Options: options.Index().SetName("a")}
	b := mongo.IndexModel{Keys: bson.D{{Key: "b", Value: 1}}, Options: options.Index().SetName("b")}
	require.NoError(t, mongodb.CreateIndexes(t.Context(), coll, a))
	require.NoError(t, mongodb.CreateIndexes(t.Context(), coll, a, b), "one of them exists already")

	specs, err := coll.Indexes().ListSpecifications(t.Context())
	require.NoError(t, err)
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	assert.ElementsMatch(t, []string{"_id_", "a", "b"}, names)
}

func TestOpen_NamesTheDatabase(t *testing.T) {
	db, disconnect, err := mongodb.Open("mongodb://127.0.0.1:1/orders", "x")
	require.NoError(t, err)
	assert.Equal(t, "orders", db.Name())
	assert.NoError(t, disconnect())
}
