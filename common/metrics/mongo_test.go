package metrics_test

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/testkit"
)

// TestMongo_CountsCommandsByCollectionAndCommand connects as the services
// do, through mongodb.Connect, to the embedded FerretDB.
func TestMongo_CountsCommandsByCollectionAndCommand(t *testing.T) {
	reg := prometheus.NewRegistry()
	client, db, err := mongodb.Connect(testkit.MongoURI(t), "", mongodb.WithMetrics(reg))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	ctx := t.Context()
	tickets := db.Collection("tickets")

	_, err = tickets.InsertOne(ctx, bson.D{{Key: "title", Value: "concert"}})
	require.NoError(t, err)
	_, err = tickets.InsertOne(ctx, bson.D{{Key: "title", Value: "opera"}})
	require.NoError(t, err)
	require.NoError(t, tickets.FindOne(ctx, bson.D{{Key: "title", Value: "concert"}}).Err())
	// A batch of one makes the cursor fetch the rest with getMore.
	cur, err := tickets.Find(ctx, bson.D{}, options.Find().SetBatchSize(1))
	require.NoError(t, err)
	var all []bson.M
	require.NoError(t, cur.All(ctx, &all))
	require.Len(t, all, 2)
	_, err = db.Collection("orders").CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	require.NoError(t, client.Ping(ctx, nil))

	s := metricstest.Gather(t, reg)
	count := func(collection, command string) float64 {
		return s.Value(metrics.MongoCommands, prometheus.Labels{"collection": collection, "command": command})
	}
	assert.Equal(t, 2.0, count("tickets", "insert"))
	assert.Equal(t, 2.0, count("tickets", "find"))
	assert.GreaterOrEqual(t, count("tickets", "getMore"), 1.0)
	assert.Equal(t, 1.0, count("orders", "aggregate"), "CountDocuments is an aggregate")
	assert.Equal(t, 1.0, count("", "ping"), "a command of no collection")
	assert.Equal(t, 2.0, s.Value(metrics.MongoCommandDuration, prometheus.Labels{"command": "insert"}), "each timed once it ended")
	assert.Equal(t, 1.0, s.Value(metrics.MongoCommandDuration, prometheus.Labels{"command": "ping"}))
}

// TestMongo_TimesFailedCommandsToo checks the Failed side of the monitor:
// a command the server refuses is counted and timed like one it ran.
func TestMongo_TimesFailedCommandsToo(t *testing.T) {
	reg := prometheus.NewRegistry()
	client, db, err := mongodb.Connect(testkit.MongoURI(t), "", mongodb.WithMetrics(reg))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })

	err = db.RunCommand(t.Context(), bson.D{{Key: "noSuchCommand", Value: 1}}).Err()
	require.Error(t, err)

	s := metricstest.Gather(t, reg)
	assert.Equal(t, 1.0, s.Value(metrics.MongoCommands, prometheus.Labels{"collection": "", "command": "noSuchCommand"}))
	assert.Equal(t, 1.0, s.Value(metrics.MongoCommandDuration, prometheus.Labels{"command": "noSuchCommand"}))
}
