package paymentdb_test

import (
	"testing"
	"time"

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
