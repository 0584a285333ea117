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
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
)

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
