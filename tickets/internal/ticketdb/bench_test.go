package ticketdb_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

// The benchmarks time the store's hot queries, one caller at a time, on
// the embedded FerretDB of the tests; docs/performance.md says how to run
// them. No relay runs: an event left pending is what the store wrote.

// listed is how many tickets the listing holds, the load tool's default.
const listed = 100

// benchStore returns a store on a fresh database holding n tickets for
// sale, and their ids.
func benchStore(b *testing.B, n int) (*ticketdb.Store, *mongo.Collection, []string) {
	b.Helper()
	db := testkit.DB(b)
	s := ticketdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(b, s.EnsureIndexes(b.Context()))
	ids := make([]string, n)
	for i := range ids {
		t, err := s.Insert(b.Context(), ticket.Ticket{Title: "concert", Price: 2000, UserID: "seller"})
		require.NoError(b, err)
		ids[i] = t.ID
	}
	return s, db.Collection(ticketdb.Collection), ids
}

func BenchmarkInsert(b *testing.B) {
	s, _, _ := benchStore(b, 0)
	for b.Loop() {
		_, err := s.Insert(b.Context(), ticket.Ticket{Title: "concert", Price: 2000, UserID: "seller"})
		require.NoError(b, err)
	}
}

func BenchmarkGet(b *testing.B) {
	s, _, ids := benchStore(b, listed)
	i := 0
	for b.Loop() {
		_, err := s.Get(b.Context(), ids[i%len(ids)])
		require.NoError(b, err)
		i++
	}
}

func BenchmarkAvailable(b *testing.B) {
	s, _, _ := benchStore(b, listed)
	for _, bc := range []struct {
		name string
		page ticket.Page
	}{
		{"all", ticket.Page{}},
		{"page of 50", ticket.Page{Limit: 50}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				_, _, err := s.Available(b.Context(), bc.page)
				require.NoError(b, err)
			}
		})
	}
}

// BenchmarkUpdate alternates an order's lock of a ticket and its release,
// as order:created and order:cancelled do: the released orders the
// document remembers grow to their bound.
func BenchmarkUpdate(b *testing.B) {
	s, coll, ids := benchStore(b, 1)
	oid, err := bson.ObjectIDFromHex(ids[0])
	require.NoError(b, err)
	toggle := func(t *ticket.Ticket) (bool, error) {
		if t.OrderID == "" {
			return t.Reserve(bson.NewObjectID().Hex())
		}
		return t.Release(t.OrderID)
	}
	for b.Loop() {
		_, _, err := s.Update(b.Context(), ids[0], toggle)
		require.NoError(b, err)
		// The relay would have published and removed the event: without
		// it, the document would grow with every iteration.
		b.StopTimer()
		_, err = coll.UpdateByID(b.Context(), oid, bson.D{{Key: "$set", Value: bson.D{{Key: outbox.Field, Value: bson.A{}}}}})
		require.NoError(b, err)
		b.StartTimer()
	}
}
