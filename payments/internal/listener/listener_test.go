package listener_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/charger"
	"ticketing.dev/payments/internal/listener"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// env is the payments service's handlers on a fresh database, a NATS
// Streaming server of their own and stripe-mock.
type env struct {
	store *paymentdb.Store
	conn  *bus.Conn
	h     *listener.Handlers
}

func setup(t *testing.T) env {
	t.Helper()
	db := testkit.DB(t)
	conn := testkit.Bus(t, testkit.NATS(t))
	log := testkit.Logger(t)
	// No relay: the tests read the store, not what it publishes.
	store := paymentdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, store.EnsureIndexes(t.Context()))
	stripe := charger.New("sk_test_123", log, charger.WithBaseURL(testkit.StripeMock(t)))
	return env{store: store, conn: conn, h: listener.New(payment.NewService(store, stripe), log)}
}

func newID() string { return bson.NewObjectID().Hex() }

func orderCreated() events.OrderCreated {
	return events.OrderCreated{
		ID:        newID(),
		Status:    events.StatusCreated,
		UserID:    newID(),
		ExpiresAt: events.NewTime(time.Now().Add(15 * time.Minute).UTC().Truncate(time.Millisecond)),
		Ticket:    events.OrderTicket{ID: newID(), Price: 2099},
	}
}

// replica returns the stored replica of order id, failing the test if it is
// missing.
func (e env) replica(t *testing.T, id string) payment.Order {
	t.Helper()
	o, err := e.store.Order(t.Context(), id)
	require.NoError(t, err)
	return o
}

func TestOrderCreated_StoresTheReplicaAndAcks(t *testing.T) {
	e := setup(t)
	ev := orderCreated()

	require.NoError(t, e.h.OrderCreated(t.Context(), ev))

	got := e.replica(t, ev.ID)
	assert.Equal(t, ev.ID, got.ID)
	assert.Equal(t, ev.UserID, got.UserID)
	assert.Equal(t, events.StatusCreated, got.Status)
	assert.Equal(t, events.Money(2099), got.Price)
	assert.True(t, ev.ExpiresAt.Equal(got.ExpiresAt), "%s != %s", ev.ExpiresAt, got.ExpiresAt)
}

func TestOrderCreated_RedeliveryChangesNothingAndAcks(t *testing.T) {
	e := setup(t)
	ev := orderCreated()
	require.NoError(t, e.h.OrderCreated(t.Context(), ev))
	require.NoError(t, e.h.OrderCancelled(t.Context(), events.OrderCancelled{ID: ev.ID, Version: 1}))

	require.NoError(t, e.h.OrderCreated(t.Context(), ev))

	got := e.replica(t, ev.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
}

func TestOrderCancelled_MarksTheReplicaCancelledAndAcks(t *testing.T) {
	e := setup(t)
	ev := orderCreated()
	require.NoError(t, e.h.OrderCreated(t.Context(), ev))

	require.NoError(t, e.h.OrderCancelled(t.Context(), events.OrderCancelled{ID: ev.ID, Version: 1}))

	got := e.replica(t, ev.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
}

// A cancellation may overtake its order:created, which travels on another
// channel: it is delivered again, not given up on.
func TestOrderCancelled_BeforeItsOrderIsNotPermanent(t *testing.T) {
	e := setup(t)

	err := e.h.OrderCancelled(t.Context(), events.OrderCancelled{ID: newID(), Version: 1})

	assert.ErrorIs(t, err, payment.ErrOrderBehind)
	assert.NotErrorIs(t, err, bus.ErrPermanent)
}

// An event that can never apply goes to the dead letters at once, and
// nothing is stored.
func TestEvents_ThatCanNeverApplyArePermanent(t *testing.T) {
	e := setup(t)
	noBuyer, badStatus, badID := orderCreated(), orderCreated(), orderCreated()
	noBuyer.UserID = ""
	badStatus.Status = "bogus"
	badID.ID = "not-an-id"

	for name, ev := range map[string]events.OrderCreated{"no buyer": noBuyer, "unknown status": badStatus, "malformed id": badID} {
		assert.ErrorIs(t, e.h.OrderCreated(t.Context(), ev), bus.ErrPermanent, name)
		_, err := e.store.Order(t.Context(), ev.ID)
		assert.Error(t, err, "%s: nothing stored", name)
	}
	for _, id := range []string{"not-an-id", `{"$gt":""}`, ""} {
		err := e.h.OrderCancelled(t.Context(), events.OrderCancelled{ID: id, Version: 1})
		assert.ErrorIs(t, err, bus.ErrPermanent, id)
		assert.ErrorIs(t, err, mongodb.ErrBadID, id)
	}
	assert.ErrorIs(t, e.h.OrderCreated(t.Context(), badID), mongodb.ErrBadID)
}

// TestSubscribe_AppliesACancellationThatOvertookItsOrder publishes an order's
// cancellation before its creation on a real NATS Streaming server, as
// Subscribe subscribes the handlers: the cancellation is refused, delivered
// again after the ack wait, and applied once the order is stored.
func TestSubscribe_AppliesACancellationThatOvertookItsOrder(t *testing.T) {
	e := setup(t)
	require.NoError(t, listener.Subscribe(t.Context(), e.conn, time.Second, e.h))
	ev := orderCreated()

	require.NoError(t, bus.NewPublisher[events.OrderCancelled](e.conn).Publish(t.Context(), events.OrderCancelled{ID: ev.ID, Version: 1}))
	require.NoError(t, bus.NewPublisher[events.OrderCreated](e.conn).Publish(t.Context(), ev))

	testkit.Eventually(t, func() bool {
		o, err := e.store.Order(context.Background(), ev.ID)
		return err == nil && o.Status == events.StatusCancelled
	}, "order %s never cancelled", ev.ID)
	assert.EqualValues(t, 1, e.replica(t, ev.ID).Version)
}
