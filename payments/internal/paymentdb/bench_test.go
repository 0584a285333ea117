package paymentdb_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
)

// The benchmarks time the store's hot writes, one caller at a time, on the
// embedded FerretDB of the tests; docs/performance.md says how to run them.

func TestMain(m *testing.M) { testkit.Main(m) }

func benchStore(b *testing.B) *paymentdb.Store {
	b.Helper()
	s := paymentdb.New(testkit.DB(b), new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(b, s.EnsureIndexes(b.Context()))
	return s
}

// BenchmarkAddOrder inserts an order replica, as order:created does.
func BenchmarkAddOrder(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		require.NoError(b, s.AddOrder(b.Context(), payment.Order{
			ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 2000, ExpiresAt: time.Now().Add(15 * time.Minute),
		}))
	}
}

// BenchmarkClaim inserts the pending payment that claims an order, the
// first write of a payment.
func BenchmarkClaim(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		_, err := s.Claim(b.Context(), payment.Claim{OrderID: bson.NewObjectID().Hex(), Token: "tok_visa", ClaimedAt: time.Now()}, time.Now().Add(-time.Minute))
		require.NoError(b, err)
	}
}
