package testkit

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Client connects to the MongoDB server at uri, with opts on top (a
// monitor, a dialer), disconnecting when the test ends.
func Client(t testing.TB, uri string, opts ...*options.ClientOptions) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(append([]*options.ClientOptions{options.Client().ApplyURI(uri)}, opts...)...)
	if err != nil {
		t.Fatalf("testkit: connect %s: %v", uri, err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

// UpdateFindDeleteByID updates, finds and deletes by _id the document id
// of coll, which has a title, as the stores do, failing the test where
// one of them does not work: what an index the embedded server adds to
// FerretDB's tables must leave as it was. The document is gone after.
func UpdateFindDeleteByID(t testing.TB, coll *mongo.Collection, id bson.ObjectID) {
	t.Helper()
	ctx := t.Context()
	if _, err := coll.UpdateOne(ctx, bson.M{"_id": id}, bson.M{"$set": bson.M{"title": "opera"}}); err != nil {
		t.Fatalf("update by _id: %v", err)
	}
	var got struct{ Title string }
	if err := coll.FindOne(ctx, bson.M{"_id": id}).Decode(&got); err != nil {
		t.Fatalf("find by _id: %v", err)
	}
	if got.Title != "opera" {
		t.Errorf("find by _id after the update: title %q, want %q", got.Title, "opera")
	}
	if res, err := coll.DeleteOne(ctx, bson.M{"_id": id}); err != nil || res.DeletedCount != 1 {
		t.Fatalf("delete by _id: %v (deleted %d)", err, res.DeletedCount)
	}
	n, err := coll.CountDocuments(ctx, bson.M{"_id": id})
	if err != nil || n != 0 {
		t.Errorf("count by _id after the delete: %d (%v), want 0", n, err)
	}
}
