package orderdb_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
)

// The benchmarks time the store's hot writes, one caller at a time, on the
// embedded FerretDB of the tests; docs/performance.md says how to run them.
// No relay runs: an event left pending is what the store wrote.

func benchStore(b *testing.B) *orderdb.Store {
	b.Helper()
	s := orderdb.New(testkit.DB(b), new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(b, s.EnsureIndexes(b.Context()))
	return s
}

// benchTicket adds a new ticket to the replica, as ticket:created does.
func benchTicket(b *testing.B, s *orderdb.Store) order.Ticket {
	b.Helper()
	t := order.Ticket{ID: bson.NewObjectID().Hex(), Title: "concert", Price: 2000}
	require.NoError(b, s.AddTicket(b.Context(), t))
	return t
}

func benchOrder(t order.Ticket) order.Order {
	return order.Order{UserID: "buyer", Status: events.StatusCreated, ExpiresAt: time.Now().Add(15 * time.Minute), TicketID: t.ID}
}

func BenchmarkAddTicket(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		require.NoError(b, s.AddTicket(b.Context(), order.Ticket{ID: bson.NewObjectID().Hex(), Title: "concert", Price: 2000}))
	}
}

// BenchmarkCreate claims a ticket and inserts its order.
func BenchmarkCreate(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		b.StopTimer()
		t := benchTicket(b, s)
		b.StartTimer()
		_, err := s.Create(b.Context(), benchOrder(t), t)
		require.NoError(b, err)
	}
}

// BenchmarkCancel cancels an order and releases its claim, as a buyer's
// cancellation or an expiry does.
func BenchmarkCancel(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		b.StopTimer()
		t := benchTicket(b, s)
		o, err := s.Create(b.Context(), benchOrder(t), t)
		require.NoError(b, err)
		b.StartTimer()
		_, err = s.Update(b.Context(), o.ID, order.CancelBy(o.UserID))
		require.NoError(b, err)
	}
}
