package paymentdb_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/requestid"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestComplete_FailedWriteAsksTheRelayToLook drops a payment's completion
// on its way to the server: the client cannot tell such a write from one
// the server applied, so the store asks the relay to look and hands it no
// event. Completed again, the payment's event is handed over once.
func TestComplete_FailedWriteAsksTheRelayToLook(t *testing.T) {
	db, faults := testkit.FaultyDB(t)
	ctx := t.Context()
	relay := new(outboxtest.Handoff)
	s := paymentdb.New(db, new(keylock.Locks), relay)
	require.NoError(t, s.EnsureIndexes(ctx))
	now := time.Now()
	o := payment.Order{ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 2000, ExpiresAt: now.Add(15 * time.Minute)}
	require.NoError(t, s.AddOrder(ctx, o))
	c, err := s.Claim(ctx, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: now}, now.Add(-time.Minute))
	require.NoError(t, err)

	faults.Drop("update", paymentdb.PaymentsCollection)
	_, err = s.Complete(ctx, c, "ch_1")
	require.ErrorIs(t, err, testkit.ErrDropped)
	assert.Equal(t, 1, relay.Notified())
	assert.Empty(t, relay.Messages(c.ID), "no event handed over")

	faults.Heal()
	p, err := s.Complete(ctx, c, "ch_1")
	require.NoError(t, err)
	assert.Equal(t, payment.StatusSucceeded, p.Status)
	assert.Len(t, relay.Messages(c.ID), 1)
	assert.Equal(t, 1, relay.Notified(), "a write that succeeded asks for no look")
}

// TestCommandShapes pins the commands of the store's operations that the
// floor of infra/bench copies, called as the service calls them
// (docs/bench/method.md).
func TestCommandShapes(t *testing.T) {
	db, rec := testkit.RecordCommands(t)
	ctx := t.Context()
	request := requestid.With(ctx, "0123456789abcdef01234567")
	s := paymentdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, s.EnsureIndexes(ctx))
	now := time.Now()

	o := payment.Order{ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 2000, ExpiresAt: now.Add(15 * time.Minute)}
	rec.Run(t, "AddOrder (order:created)", func() error { return s.AddOrder(ctx, o) })
	rec.Run(t, "Order (POST /api/payments)", func() (err error) {
		o, err = s.Order(request, o.ID)
		return err
	})
	var c payment.Claim
	rec.Run(t, "Claim (POST /api/payments)", func() (err error) {
		c, err = s.Claim(request, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: now}, now.Add(-time.Minute))
		return err
	})
	rec.Run(t, "Complete (POST /api/payments, charged)", func() error {
		_, err := s.Complete(request, c, "ch_1")
		return err
	})

	o = payment.Order{ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 2000, ExpiresAt: now.Add(15 * time.Minute)}
	require.NoError(t, s.AddOrder(ctx, o))
	rec.Run(t, "CancelOrder (order:cancelled)", func() error { return s.CancelOrder(ctx, o.ID, o.Version+1, now) })
	rec.Golden(t, "testdata/commands.golden")
}

// The benchmarks time the store's hot writes, one caller at a time, on the
// embedded FerretDB of the tests; docs/performance.md says how to run them.

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
