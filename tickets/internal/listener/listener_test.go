package listener_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/requestid"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/internal/listener"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// env is the tickets service's handlers on a fresh database and a NATS
// Streaming server of their own.
type env struct {
	db      *mongo.Database
	tickets *ticket.Service
	conn    *bus.Conn
	h       *listener.Handlers
}

func setup(t *testing.T) env {
	t.Helper()
	db := testkit.DB(t)
	conn := testkit.Bus(t, testkit.NATS(t))
	log := testkit.Logger(t)
	// No relay: the tests read the store, not what it publishes.
	store := ticketdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, store.EnsureIndexes(t.Context()))
	tickets := ticket.NewService(store, 0)
	return env{db: db, tickets: tickets, conn: conn, h: listener.New(tickets, log)}
}

func newID() string { return bson.NewObjectID().Hex() }

// ticket lists a new ticket and returns it.
func (e env) ticket(t *testing.T) ticket.Ticket {
	t.Helper()
	tk, err := e.tickets.Create(t.Context(), newID(), "concert", 2000)
	require.NoError(t, err)
	return tk
}

// get returns the stored ticket, failing the test if it is missing.
func (e env) get(t *testing.T, id string) ticket.Ticket {
	t.Helper()
	tk, err := e.tickets.Get(t.Context(), id)
	require.NoError(t, err)
	return tk
}

func created(ticketID, orderID string) events.OrderCreated {
	return events.OrderCreated{
		ID:        orderID,
		Status:    events.StatusCreated,
		UserID:    newID(),
		ExpiresAt: events.NewTime(time.Now().Add(15 * time.Minute)),
		Ticket:    events.OrderTicket{ID: ticketID, Price: 2000},
	}
}

func cancelled(ticketID, orderID string) events.OrderCancelled {
	return events.OrderCancelled{ID: orderID, Version: 1, Ticket: events.TicketRef{ID: ticketID}}
}

func TestOrderCreated_ReservesTheTicketAndAcks(t *testing.T) {
	e := setup(t)
	tk := e.ticket(t)
	order := newID()

	require.NoError(t, e.h.OrderCreated(t.Context(), created(tk.ID, order)))

	got := e.get(t, tk.ID)
	assert.Equal(t, order, got.OrderID)
	assert.EqualValues(t, 1, got.Version)
}

// The request that caused an event reaches the event its handler stores
// in turn: ticket:updated goes out with order:created's request id.
func TestOrderCreated_TheTicketUpdatedItStoresCarriesTheRequestID(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tk := e.ticket(t)
	ctx := requestid.With(t.Context(), "req-9")

	require.NoError(t, e.h.OrderCreated(ctx, created(tk.ID, newID())))

	oid, err := bson.ObjectIDFromHex(tk.ID)
	require.NoError(t, err)
	var doc struct {
		Outbox []outbox.Message `bson:"outbox"`
	}
	require.NoError(t, e.db.Collection(ticketdb.Collection).FindOne(t.Context(), bson.M{"_id": oid}).Decode(&doc))
	require.NotEmpty(t, doc.Outbox)
	last := doc.Outbox[len(doc.Outbox)-1]
	assert.Equal(t, string(events.SubjectTicketUpdated), last.Subject)
	assert.Equal(t, "req-9", last.RequestID)
}

func TestOrderCreated_RedeliveryChangesNothingAndAcks(t *testing.T) {
	e := setup(t)
	tk := e.ticket(t)
	order := newID()
	require.NoError(t, e.h.OrderCreated(t.Context(), created(tk.ID, order)))

	require.NoError(t, e.h.OrderCreated(t.Context(), created(tk.ID, order)))

	assert.EqualValues(t, 1, e.get(t, tk.ID).Version)
}

// A ticket another order holds waits for that order's cancellation: the
// event is delivered again, not given up on.
func TestOrderCreated_TicketHeldByAnotherOrderIsNotPermanent(t *testing.T) {
	e := setup(t)
	tk := e.ticket(t)
	first := newID()
	require.NoError(t, e.h.OrderCreated(t.Context(), created(tk.ID, first)))

	err := e.h.OrderCreated(t.Context(), created(tk.ID, newID()))

	assert.ErrorIs(t, err, ticket.ErrHeldByOtherOrder)
	assert.NotErrorIs(t, err, bus.ErrPermanent)
	assert.Equal(t, first, e.get(t, tk.ID).OrderID)
}

func TestOrderCancelled_ReleasesTheTicketAndAcks(t *testing.T) {
	e := setup(t)
	tk := e.ticket(t)
	order := newID()
	require.NoError(t, e.h.OrderCreated(t.Context(), created(tk.ID, order)))

	require.NoError(t, e.h.OrderCancelled(t.Context(), cancelled(tk.ID, order)))

	got := e.get(t, tk.ID)
	assert.Empty(t, got.OrderID)
	assert.EqualValues(t, 2, got.Version)
	assert.Equal(t, []string{order}, got.ReleasedOrderIDs)
}

// A cancellation may overtake its order:created: it is delivered again,
// not given up on, and changes nothing meanwhile.
func TestOrderCancelled_BeforeItsOrderIsNotPermanent(t *testing.T) {
	e := setup(t)
	tk := e.ticket(t)

	err := e.h.OrderCancelled(t.Context(), cancelled(tk.ID, newID()))

	assert.ErrorIs(t, err, ticket.ErrOrderNotApplied)
	assert.NotErrorIs(t, err, bus.ErrPermanent)
	assert.EqualValues(t, 0, e.get(t, tk.ID).Version)
}

// An event naming its ticket or its order by an id that is no ObjectID can
// never apply: it goes to the dead letters at once, and the ticket it may
// name stays as it was.
func TestEvents_MalformedIDIsPermanent(t *testing.T) {
	e := setup(t)
	tk := e.ticket(t)
	tests := map[string]struct{ ticketID, orderID string }{
		"ticket id not hex":      {"not-an-id", newID()},
		"ticket id an operator":  {`{"$gt":""}`, newID()},
		"no ticket id":           {"", newID()},
		"order id not hex":       {tk.ID, "order-1"},
		"no order id":            {tk.ID, ""},
		"order id one digit off": {tk.ID, newID()[1:]},
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			for _, err := range []error{
				e.h.OrderCreated(t.Context(), created(c.ticketID, c.orderID)),
				e.h.OrderCancelled(t.Context(), cancelled(c.ticketID, c.orderID)),
			} {
				assert.ErrorIs(t, err, bus.ErrPermanent)
				assert.ErrorIs(t, err, mongodb.ErrBadID)
			}
		})
	}
	got := e.get(t, tk.ID)
	assert.Empty(t, got.OrderID)
	assert.EqualValues(t, 0, got.Version)
}

// An event for a ticket this service never stored can never apply: no
// order can name a ticket before its insert here, so it goes to the dead
// letters at once, and no ticket is made up for it.
func TestEvents_UnknownTicketIsPermanent(t *testing.T) {
	e := setup(t)
	unknown := newID()

	for _, err := range []error{
		e.h.OrderCreated(t.Context(), created(unknown, newID())),
		e.h.OrderCancelled(t.Context(), cancelled(unknown, newID())),
	} {
		assert.ErrorIs(t, err, bus.ErrPermanent)
		assert.ErrorIs(t, err, ticket.ErrNotFound)
	}
	_, err := e.tickets.Get(t.Context(), unknown)
	assert.ErrorIs(t, err, ticket.ErrNotFound)
}

// TestSubscribe_AppliesACancellationThatOvertookItsOrder publishes an order's
// cancellation before its creation on a real NATS Streaming server, as
// Subscribe subscribes the handlers: the cancellation is refused, delivered
// again after the ack wait, and applied after the reservation.
func TestSubscribe_AppliesACancellationThatOvertookItsOrder(t *testing.T) {
	e := setup(t)
	require.NoError(t, listener.Subscribe(t.Context(), e.conn, time.Second, e.h))
	tk := e.ticket(t)
	order := newID()

	require.NoError(t, bus.NewPublisher[events.OrderCancelled](e.conn).Publish(t.Context(), cancelled(tk.ID, order)))
	require.NoError(t, bus.NewPublisher[events.OrderCreated](e.conn).Publish(t.Context(), created(tk.ID, order)))

	testkit.Eventually(t, func() bool {
		got, err := e.tickets.Get(context.Background(), tk.ID)
		return err == nil && got.Version == 2
	}, "ticket %s never reserved and released", tk.ID)
	got := e.get(t, tk.ID)
	assert.Empty(t, got.OrderID)
	assert.Equal(t, []string{order}, got.ReleasedOrderIDs)
}
