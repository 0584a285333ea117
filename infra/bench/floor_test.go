package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/testkit"
	"ticketing.dev/infra/bench"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestFloor_RunsEachBudget runs the floors on the embedded FerretDB: each
// floor that writes sends its budget, to collections that grow by what it
// inserts, and the floor of a step of load.RowSteps runs on until its
// collection holds MinRows rows.
func TestFloor_RunsEachBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every floor on the embedded server")
	}
	uri := testkit.MongoURI(t)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	ctx := t.Context()
	defer client.Disconnect(context.WithoutCancel(ctx))
	// The floor reads the services' databases by their names; this test
	// binary is the server's only user.
	for _, db := range []string{"auth", "tickets", "floor"} {
		t.Cleanup(func() { _ = client.Database(db).Drop(context.Background()) })
	}
	for range 5 {
		_, err := client.Database("tickets").Collection("tickets").InsertOne(ctx, bson.D{
			{Key: "_id", Value: bson.NewObjectID()}, {Key: "title", Value: "concert"}, {Key: "price", Value: 2000}, {Key: "version", Value: 0},
		})
		require.NoError(t, err)
	}
	_, err = client.Database("auth").Collection("users").InsertOne(ctx, bson.D{{Key: "email", Value: "a@example.com"}, {Key: "password", Value: "x"}})
	require.NoError(t, err)

	const minRows = 160 // 100 documents seeded, then 60 more
	res, err := bench.Floor(ctx, uri, []string{"show", "create", "order", "pay", "expire"},
		bench.FloorConfig{Users: 2, Duration: 200 * time.Millisecond, MinRows: minRows, MaxDuration: time.Minute})
	require.NoError(t, err)
	require.Len(t, res, 5)
	byName := map[string]bench.FloorResult{}
	for _, r := range res {
		byName[r.Name] = r
		assert.Zero(t, r.Errors, r.Name)
		assert.Positive(t, r.Requests, r.Name)
		assert.True(t, r.P50 > 0 && r.P50 <= r.P99, "%s: %v %v", r.Name, r.P50, r.P99)
		assert.NotEmpty(t, r.Series, r.Name)
	}
	assert.Zero(t, byName["show"].Commands, "a read's floor is its query")
	assert.Equal(t, 3.0, byName["create"].Commands)
	assert.Equal(t, 9.0, byName["order"].Commands)
	assert.Equal(t, 16.0, byName["pay"].Commands)
	assert.Equal(t, 21.0, byName["expire"].Commands)
	assert.Greater(t, byName["expire"].P50, byName["create"].P50,
		"an expiry has no request of its own: its floor times the whole iteration, create's its insert")

	count := func(coll string) int {
		n, err := client.Database("floor").Collection(coll).CountDocuments(ctx, bson.D{})
		require.NoError(t, err)
		return int(n)
	}
	create, order, pay, expire := byName["create"].Requests, byName["order"].Requests, byName["pay"].Requests, byName["expire"].Requests
	assert.GreaterOrEqual(t, create+100, minRows, "create ran on to MinRows tickets")
	assert.Equal(t, 100+create+expire, count("tickets_tickets"))
	assert.Equal(t, 100+create+expire, count("orders_tickets"), "a replica of every ticket")
	assert.Equal(t, 100+order+pay+expire, count("orders_orders"))
	assert.Equal(t, 100+order+pay, count("orders_claims"), "an expired order's claim deleted")
	assert.Equal(t, 100+pay, count("payments_payments"))
	assert.GreaterOrEqual(t, byName["order"].Rows, minRows)
	assert.GreaterOrEqual(t, byName["pay"].Rows, minRows)
}
