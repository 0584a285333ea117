package listener_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/listener"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// env is the orders service's handlers on a fresh database, with no bus:
// the tests call the handlers as the bus would, and read the store. The
// handlers' life over the bus is tested through the service (package
// main).
type env struct {
	store *orderdb.Store
	h     *listener.Handlers
}

func setup(t *testing.T) env {
	t.Helper()
	// No relay: the tests read the store, not what it publishes.
	store := orderdb.New(testkit.DB(t), new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, store.EnsureIndexes(t.Context()))
	return env{store: store, h: listener.New(order.NewService(store, order.DefaultWindow), testkit.Logger(t))}
}

func newID() string { return bson.NewObjectID().Hex() }

// ticket adds a ticket to the replica through ticket:created.
func (e env) ticket(t *testing.T, title string, price events.Money) order.Ticket {
	t.Helper()
	tk := order.Ticket{ID: newID(), Title: title, Price: price}
	require.NoError(t, e.h.TicketCreated(t.Context(), events.TicketCreated{ID: tk.ID, Title: title, Price: price, UserID: newID()}))
	return tk
}

// replica returns the replica's ticket, failing the test if it is missing.
func (e env) replica(t *testing.T, id string) order.Ticket {
	t.Helper()
	tk, err := e.store.Ticket(t.Context(), id)
	require.NoError(t, err)
	return tk
}

func TestTicketCreated_CreatesTheReplicaAndAcks(t *testing.T) {
	t.Parallel()
	s := setup(t)
	e := events.TicketCreated{ID: newID(), Version: 0, Title: "concert", Price: 1099, UserID: "seller"}

	require.NoError(t, s.h.TicketCreated(t.Context(), e))

	assert.Equal(t, order.Ticket{ID: e.ID, Title: "concert", Price: 1099, Version: 0}, s.replica(t, e.ID))
}

func TestTicketCreated_RedeliveryChangesNothingAndAcks(t *testing.T) {
	t.Parallel()
	s := setup(t)
	e := events.TicketCreated{ID: newID(), Version: 0, Title: "concert", Price: 1099, UserID: "seller"}
	require.NoError(t, s.h.TicketCreated(t.Context(), e))
	require.NoError(t, s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: e.ID, Version: 1, Title: "new", Price: 1500}))

	require.NoError(t, s.h.TicketCreated(t.Context(), e))

	assert.Equal(t, order.Ticket{ID: e.ID, Title: "new", Price: 1500, Version: 1}, s.replica(t, e.ID))
}

func TestTicketUpdated_FindsUpdatesAndAcks(t *testing.T) {
	t.Parallel()
	s := setup(t)
	tk := s.ticket(t, "concert", 1000)

	err := s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 1, Title: "new concert", Price: 999, UserID: "seller", OrderID: newID()})

	require.NoError(t, err)
	assert.Equal(t, order.Ticket{ID: tk.ID, Title: "new concert", Price: 999, Version: 1}, s.replica(t, tk.ID))
}

func TestTicketUpdated_DoesNotAckAVersionFromTheFuture(t *testing.T) {
	t.Parallel()
	s := setup(t)
	tk := s.ticket(t, "concert", 1000)

	err := s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 2, Title: "too soon", Price: 5})

	assert.ErrorIs(t, err, order.ErrTicketBehind)
	assert.Equal(t, tk, s.replica(t, tk.ID))
}

func TestTicketUpdated_DoesNotAckForAnUnknownTicket(t *testing.T) {
	t.Parallel()
	s := setup(t)
	id := newID()

	err := s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: id, Version: 1, Title: "early", Price: 5})

	assert.ErrorIs(t, err, order.ErrTicketBehind)
	_, err = s.store.Ticket(t.Context(), id)
	assert.ErrorIs(t, err, order.ErrTicketNotFound)
}

func TestTicketUpdated_AcksAVersionAlreadyApplied(t *testing.T) {
	t.Parallel()
	s := setup(t)
	tk := s.ticket(t, "concert", 1000)
	require.NoError(t, s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 1, Title: "v1", Price: 100}))
	require.NoError(t, s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 2, Title: "v2", Price: 200}))

	require.NoError(t, s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 1, Title: "v1", Price: 100}))

	assert.Equal(t, order.Ticket{ID: tk.ID, Title: "v2", Price: 200, Version: 2}, s.replica(t, tk.ID))
}

// A malformed id can never apply: the event goes to the dead letters at
// once rather than being delivered again.
func TestEvents_MalformedIDIsPermanent(t *testing.T) {
	t.Parallel()
	s := setup(t)
	assert.ErrorIs(t, s.h.TicketCreated(t.Context(), events.TicketCreated{ID: "not-an-id", Title: "x", Price: 1}), bus.ErrPermanent)
	assert.ErrorIs(t, s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: "not-an-id", Version: 1, Title: "x", Price: 1}), bus.ErrPermanent)
	assert.ErrorIs(t, s.h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: "not-an-id"}), bus.ErrPermanent)
	assert.ErrorIs(t, s.h.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p", OrderID: "not-an-id", StripeID: "ch_1"}), bus.ErrPermanent)
}

// A ticket:updated whose ticket is not in the replica yet may be waiting
// for its ticket:created: it is delivered again, not given up on.
func TestTicketUpdated_BeforeItsTicketIsNotPermanent(t *testing.T) {
	t.Parallel()
	s := setup(t)
	err := s.h.TicketUpdated(t.Context(), events.TicketUpdated{ID: newID(), Version: 1, Title: "x", Price: 1})
	assert.ErrorIs(t, err, order.ErrTicketBehind)
	assert.NotErrorIs(t, err, bus.ErrPermanent)
}
