package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/embedded"
)

// server starts a FerretDB of the test's own, whose databases are named
// after the services as the local stack's are.
func server(t *testing.T) string {
	t.Helper()
	f, err := embedded.StartFerretDB(embedded.FerretDBConfig{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(f.Stop)
	return f.URI()
}

func TestRun_NeedsTheMongoURI(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), nil, &out, &errOut)
	assert.ErrorContains(t, err, "-mongo is required")
	assert.NotErrorIs(t, err, errViolations, "a usage error is no finding")
}

func TestRun_ReportsAConsistentSystem(t *testing.T) {
	uri := server(t)
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"-mongo", uri, "-wait", "5s"}, &out, &errOut))
	assert.Contains(t, out.String(), "no violations")
}

func TestRun_FailsWithTheBrokenInvariants(t *testing.T) {
	uri := server(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(t.Context()) })
	// A ticket of a seller auth does not know, which the orders service
	// never heard of either.
	_, err = client.Database("tickets").Collection("tickets").InsertOne(t.Context(),
		bson.M{"_id": bson.NewObjectID(), "title": "concert", "price": int64(1000), "userId": bson.NewObjectID().Hex(), "version": int64(0)})
	require.NoError(t, err)

	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"-mongo", uri}, &out, &errOut)
	assert.ErrorIs(t, err, errViolations)
	assert.Contains(t, out.String(), "2 violations")
	assert.Contains(t, out.String(), "is no user of the auth service")
	assert.Contains(t, out.String(), "ticket-replica")
}

// A system whose events never drain fails the audit once -wait runs out,
// however harmless its findings would be in flight.
func TestRun_FailsWhenTheSystemNeverBecomesQuiet(t *testing.T) {
	uri := server(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(t.Context()) })
	seller := bson.NewObjectID()
	_, err = client.Database("auth").Collection("users").InsertOne(t.Context(),
		bson.M{"_id": seller, "email": "seller@example.com", "password": "scrypt$secret"})
	require.NoError(t, err)
	// A ticket whose ticket:created no relay ever publishes.
	_, err = client.Database("tickets").Collection("tickets").InsertOne(t.Context(),
		bson.M{"_id": bson.NewObjectID(), "title": "concert", "price": int64(1000), "userId": seller.Hex(), "version": int64(0),
			"outbox": bson.A{bson.M{"id": "m1", "subject": "ticket:created", "data": []byte(`{}`)}}})
	require.NoError(t, err)

	var out, errOut bytes.Buffer
	err = run(t.Context(), []string{"-mongo", uri, "-wait", "1500ms"}, &out, &errOut)
	assert.ErrorIs(t, err, errNotQuiet)
	assert.Contains(t, out.String(), "(settling)")
	assert.Contains(t, out.String(), "FAIL: not quiet after 1.5s")
}
