package bench

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/testkit"
)

// storeGoldens are the commands the stores send, pinned by each store's
// TestCommandShapes, by the service whose database holds the collections
// they name. The paths are the repository's: the floor's test runs in a
// checkout.
var storeGoldens = map[string]string{
	"auth":     "../../auth/internal/userdb/testdata/commands.golden",
	"tickets":  "../../tickets/internal/ticketdb/testdata/commands.golden",
	"orders":   "../../orders/internal/orderdb/testdata/commands.golden",
	"payments": "../../payments/internal/paymentdb/testdata/commands.golden",
}

// relayGolden holds the outbox relay's removal of a published event, on a
// collection of its test's.
const relayGolden = "../../common/outbox/testdata/commands.golden"

// guardReads are the reads mongodb.Guard makes before a versioned write
// on FerretDB, so that the write can filter by _id alone, the only filter
// FerretDB answers from an index. A budget counts the write alone (on
// MongoDB the check is in the write's filter), and so does the floor.
// Tickets and orders read the document under its lock before they change
// it, and their writes (Guard.UpdateLocked) read nothing more.
var guardReads = []string{
	"find orders.tickets {filter:{_id:objectId},limit:1,projection:{version:1},singleBatch:true}",
	"find orders.claims {filter:{_id:objectId},limit:1,projection:{orderId:1},singleBatch:true}",
	"find payments.orders {filter:{_id:objectId},limit:1,projection:{version:1},singleBatch:true}",
	"find payments.payments {filter:{_id:objectId},limit:1,projection:{status:1},singleBatch:true}",
}

// TestFloor_SendsWhatTheStoresSend runs every floor once and compares the
// commands it sends, as shapes, with those the stores and the outbox relay
// send for the operations the floor copies: the same set, but for the
// Guard's reads. A store whose commands changed fails its own
// TestCommandShapes until its golden file is rewritten, and then this
// test until the floor sends the same (floorstores.go).
func TestFloor_SendsWhatTheStoresSend(t *testing.T) {
	rec := &testkit.Commands{}
	client, err := mongo.Connect(options.Client().ApplyURI(testkit.MongoURI(t)).SetMonitor(rec.Monitor()))
	require.NoError(t, err)
	ctx := t.Context()
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	// The floor reads the services' databases by their names; this test
	// binary is the server's only user.
	for _, db := range []string{"auth", "tickets", floorDB} {
		t.Cleanup(func() { _ = client.Database(db).Drop(context.Background()) })
	}
	_, err = client.Database("tickets").Collection("tickets").InsertOne(ctx, bson.D{{Key: "title", Value: "concert"}})
	require.NoError(t, err)
	_, err = client.Database("auth").Collection("users").InsertOne(ctx, bson.D{{Key: "email", Value: "a@example.com"}})
	require.NoError(t, err)
	f := &floor{c: client, known: map[string][]bson.ObjectID{}}
	require.NoError(t, f.prepare(ctx))

	ops := map[string]op{
		"signup": whole(f.signUp), "signin": whole(f.signIn),
		"list": whole(f.list), "listpage": whole(f.listPage), "show": whole(f.show),
	}
	for step, plan := range FloorPlans {
		ops[step], err = f.plan(plan)
		require.NoError(t, err, step)
	}
	rec.Take() // the floor's preparation
	got := map[string]bool{}
	for _, step := range slices.Sorted(maps.Keys(ops)) {
		_, _, err := ops[step](ctx, 0, 0)
		require.NoError(t, err, step)
		for _, c := range rec.Take() {
			service, coll := c.Database, c.Collection
			if c.Database == floorDB {
				service, coll, _ = strings.Cut(c.Collection, "_")
			}
			got[c.Name+" "+service+"."+coll+" "+c.Shape] = true
		}
	}

	want := map[string]bool{}
	for service, path := range storeGoldens {
		for _, line := range testkit.GoldenCommands(t, path) {
			name, rest, _ := strings.Cut(line, " ")
			want[name+" "+service+"."+rest] = true
		}
	}
	for _, line := range guardReads {
		require.True(t, want[line], "a Guard's read no store sends any longer: %s", line)
		delete(want, line)
	}
	for _, line := range relayRemovals(t, want) {
		want[line] = true
	}

	assert.Empty(t, missing(want, got), "commands the stores send that the floor does not")
	assert.Empty(t, missing(got, want), "commands the floor sends that the stores do not")
}

// relayRemovals are the relay's removals the stores' events call for: on
// each collection where a store stores an event of a kind (a request's,
// with its id, or an event's, without), a removal of one of that kind.
func relayRemovals(t *testing.T, stores map[string]bool) []string {
	t.Helper()
	var out []string
	for _, line := range testkit.GoldenCommands(t, relayGolden) {
		name, rest, _ := strings.Cut(line, " ")
		_, shape, _ := strings.Cut(rest, " ") // without the relay test's collection
		_, event, ok := strings.Cut(shape, "$pullAll:{outbox:[")
		require.True(t, ok, "not a removal: %s", line)
		event, _, _ = strings.Cut(event, "]")
		for s := range stores {
			if strings.Contains(s, event) {
				_, rest, _ := strings.Cut(s, " ")
				coll, _, _ := strings.Cut(rest, " ")
				out = append(out, name+" "+coll+" "+shape)
			}
		}
	}
	return out
}

// missing returns the keys of a that b lacks, sorted.
func missing(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
