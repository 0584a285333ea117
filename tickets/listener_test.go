package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/tickets/internal/listener"
	"ticketing.dev/tickets/internal/ticket"
	"ticketing.dev/tickets/internal/ticketdb"
)

// ackWait is the shortest the bus allows, so that redeliveries come soon.
const ackWait = time.Second

// listening is the service started through its run with a short ack wait
// and every handler's result recorded: a nil result is an ack, an error a
// redelivery to come.
type listening struct {
	*service
	// parts are the service's own tickets and store.
	parts
	updated <-chan events.TicketUpdated
	handled testkit.Handled
}

func startListening(t *testing.T) *listening {
	t.Helper()
	n := testkit.NATS(t)
	l := &listening{}
	started := make(chan parts, 1)
	d := productionDeps()
	d.ackWait = ackWait
	d.subjects = func(h *listener.Handlers) listener.Subjects { return recording{h, &l.handled} }
	d.started = func(p parts) { started <- p }
	l.service = startServiceWith(t, func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		return runWith(ctx, getenv, stdout, d)
	}, testkit.ServiceEnv(testkit.MongoURI(t), n), n)
	l.parts = <-started
	l.updated = testkit.Observe[events.TicketUpdated](t, n)
	return l
}

// recording is the service's handlers, recording what each returns.
type recording struct {
	*listener.Handlers
	handled *testkit.Handled
}

func (r recording) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	return r.handled.Record(e.Subject(), e.ID, r.Handlers.OrderCreated(ctx, e))
}

func (r recording) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return r.handled.Record(e.Subject(), e.ID, r.Handlers.OrderCancelled(ctx, e))
}

func (l *listening) newTicket(t *testing.T) ticket.Ticket {
	t.Helper()
	tk, err := l.tickets.Create(t.Context(), newUserID(), "concert", 2000)
	require.NoError(t, err)
	return tk
}

// startWithTicket starts the service listening, with a ticket for the order
// events to be about.
func startWithTicket(t *testing.T) (*listening, ticket.Ticket) {
	t.Helper()
	l := startListening(t)
	return l, l.newTicket(t)
}

func (l *listening) get(t *testing.T, id string) ticket.Ticket {
	t.Helper()
	tk, err := l.store.Get(t.Context(), id)
	require.NoError(t, err)
	return tk
}

func (l *listening) orderCreated(t *testing.T, ticketID, orderID string) {
	t.Helper()
	require.NoError(t, bus.NewPublisher[events.OrderCreated](l.publisher(t)).Publish(t.Context(), events.OrderCreated{
		ID:        orderID,
		Status:    events.StatusCreated,
		UserID:    newUserID(),
		ExpiresAt: events.NewTime(time.Now().Add(15 * time.Minute)),
		Ticket:    events.OrderTicket{ID: ticketID, Price: 2000},
	}))
}

// held has a new order hold the ticket: it publishes the order's
// order:created, requires it acknowledged, and returns the order's id.
func (l *listening) held(t *testing.T, ticketID string) string {
	t.Helper()
	order := bson.NewObjectID().Hex()
	l.orderCreated(t, ticketID, order)
	require.Equal(t, []error{nil}, l.handled.Wait(t, events.SubjectOrderCreated, order, 1), "order:created of the order holding the ticket")
	return order
}

func (l *listening) orderCancelled(t *testing.T, ticketID, orderID string) {
	t.Helper()
	require.NoError(t, bus.NewPublisher[events.OrderCancelled](l.publisher(t)).Publish(t.Context(), events.OrderCancelled{
		ID:      orderID,
		Version: 1,
		Ticket:  events.TicketRef{ID: ticketID},
	}))
}

func TestOrderCreated_ReservesTheTicketAcksAndPublishes(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	order := bson.NewObjectID().Hex()

	l.orderCreated(t, tk.ID, order)

	assert.Equal(t, []error{nil}, l.handled.Wait(t, events.SubjectOrderCreated, order, 1))
	got := l.get(t, tk.ID)
	assert.Equal(t, order, got.OrderID)
	assert.Equal(t, int64(1), got.Version)
	assert.Equal(t, events.TicketUpdated{ID: tk.ID, Version: 1, Title: "concert", Price: 2000, UserID: tk.UserID, OrderID: order}, testkit.Next(t, l.updated))

	time.Sleep(ackWait + 500*time.Millisecond) // only waiting past the ack wait shows that none comes back
	assert.Len(t, l.handled.Errs(events.SubjectOrderCreated, order), 1, "acknowledged: not delivered again")
}

func TestOrderCancelled_ReleasesTheTicketAcksAndPublishes(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	order := l.held(t, tk.ID)

	l.orderCancelled(t, tk.ID, order)

	assert.Equal(t, []error{nil}, l.handled.Wait(t, events.SubjectOrderCancelled, order, 1))
	got := l.get(t, tk.ID)
	assert.Empty(t, got.OrderID)
	assert.Equal(t, int64(2), got.Version)
	assert.Equal(t, order, testkit.Next(t, l.updated).OrderID)
	assert.Equal(t, events.TicketUpdated{ID: tk.ID, Version: 2, Title: "concert", Price: 2000, UserID: tk.UserID}, testkit.Next(t, l.updated))
}

func TestOrderCreated_RedeliveryDoesNotRaiseTheVersionTwice(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	order := bson.NewObjectID().Hex()

	l.orderCreated(t, tk.ID, order)
	l.orderCreated(t, tk.ID, order)

	assert.Equal(t, []error{nil, nil}, l.handled.Wait(t, events.SubjectOrderCreated, order, 2), "both acknowledged")
	got := l.get(t, tk.ID)
	assert.Equal(t, order, got.OrderID)
	assert.Equal(t, int64(1), got.Version)
	assert.Equal(t, int64(1), testkit.Next(t, l.updated).Version)
	testkit.Quiet(t, l.updated, 300*time.Millisecond)
}

func TestOrderCancelled_RedeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	order := l.held(t, tk.ID)

	l.orderCancelled(t, tk.ID, order)
	l.orderCancelled(t, tk.ID, order)
	l.orderCreated(t, tk.ID, order) // a late redelivery of the order's creation

	assert.Equal(t, []error{nil, nil}, l.handled.Wait(t, events.SubjectOrderCancelled, order, 2))
	assert.Equal(t, []error{nil, nil}, l.handled.Wait(t, events.SubjectOrderCreated, order, 2))
	got := l.get(t, tk.ID)
	assert.Empty(t, got.OrderID, "a released order does not lock the ticket again")
	assert.Equal(t, int64(2), got.Version)
	assert.Equal(t, []string{order}, got.ReleasedOrderIDs)
	assert.Equal(t, int64(1), testkit.Next(t, l.updated).Version)
	assert.Equal(t, int64(2), testkit.Next(t, l.updated).Version)
	testkit.Quiet(t, l.updated, 300*time.Millisecond)
}

func TestOrderCancelled_BeforeItsOrderCreatedWaitsForIt(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	order := bson.NewObjectID().Hex()

	l.orderCancelled(t, tk.ID, order)
	errs := l.handled.Wait(t, events.SubjectOrderCancelled, order, 1)
	assert.ErrorIs(t, errs[0], ticket.ErrOrderNotApplied, "not acknowledged")
	assert.Equal(t, int64(0), l.get(t, tk.ID).Version, "and nothing changed")

	l.orderCreated(t, tk.ID, order)
	assert.Equal(t, []error{nil}, l.handled.Wait(t, events.SubjectOrderCreated, order, 1))

	// The cancellation comes again after the ack wait, and now applies.
	testkit.Eventually(t, func() bool {
		errs := l.handled.Errs(events.SubjectOrderCancelled, order)
		return errs[len(errs)-1] == nil
	}, "order:cancelled redelivered and acknowledged")
	got := l.get(t, tk.ID)
	assert.Empty(t, got.OrderID)
	assert.Equal(t, int64(2), got.Version)
	first, second := testkit.Next(t, l.updated), testkit.Next(t, l.updated)
	assert.Equal(t, int64(1), first.Version)
	assert.Equal(t, order, first.OrderID)
	assert.Equal(t, int64(2), second.Version)
	assert.Empty(t, second.OrderID)
}

func TestOrderCreated_TicketHeldByAnotherOrderWaitsForItsCancellation(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	first := l.held(t, tk.ID)
	second := bson.NewObjectID().Hex()

	l.orderCreated(t, tk.ID, second)
	errs := l.handled.Wait(t, events.SubjectOrderCreated, second, 1)
	assert.ErrorIs(t, errs[0], ticket.ErrHeldByOtherOrder)
	assert.Equal(t, first, l.get(t, tk.ID).OrderID)

	l.orderCancelled(t, tk.ID, first)
	eventually(t, func() bool { return l.get(t, tk.ID).OrderID == second }, "second order holds the ticket")
	got := l.get(t, tk.ID)
	assert.Equal(t, int64(3), got.Version)
	for want := int64(1); want <= 3; want++ {
		assert.Equal(t, want, testkit.Next(t, l.updated).Version)
	}
}

// The chaos tests found this order of events: a second order is placed and
// cancelled while a first holds the ticket, and a third takes the ticket as
// soon as the first releases it. Had the second's order:cancelled waited
// for its order:created, and that for the ticket to be free, both would
// have been redelivered for as long as the third holds the ticket: forever
// once it is paid.
func TestOrderCancelled_WhileAnotherOrderHoldsTheTicketIsAppliedAtOnce(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	first := l.held(t, tk.ID)
	second, third := bson.NewObjectID().Hex(), bson.NewObjectID().Hex()

	l.orderCreated(t, tk.ID, second)
	assert.ErrorIs(t, l.handled.Wait(t, events.SubjectOrderCreated, second, 1)[0], ticket.ErrHeldByOtherOrder)
	l.orderCancelled(t, tk.ID, second)
	assert.Equal(t, []error{nil}, l.handled.Wait(t, events.SubjectOrderCancelled, second, 1), "acknowledged without waiting")
	got := l.get(t, tk.ID)
	assert.Equal(t, first, got.OrderID, "the first order keeps the ticket")
	assert.Equal(t, []string{second}, got.ReleasedOrderIDs)

	l.orderCancelled(t, tk.ID, first)
	l.orderCreated(t, tk.ID, third)
	eventually(t, func() bool { return l.get(t, tk.ID).OrderID == third }, "the third order holds the ticket")
	testkit.Eventually(t, func() bool {
		errs := l.handled.Errs(events.SubjectOrderCreated, second)
		return errs[len(errs)-1] == nil
	}, "the second order's order:created, redelivered, acknowledged")
	assert.Equal(t, third, l.get(t, tk.ID).OrderID, "and changed nothing")
}

// An order event for a ticket tickets never stored can never apply (see
// the listener package's unknownTicket): like one with a malformed id, it
// is a dead letter after its first delivery, is not delivered again, and
// changes no ticket.
func TestOrderEvents_UnknownTicketAndMalformedIDsAreDeadLettersAtOnce(t *testing.T) {
	t.Parallel()
	l, tk := startWithTicket(t)
	unknownTicket, unknownOrder, badOrder := bson.NewObjectID().Hex(), bson.NewObjectID().Hex(), bson.NewObjectID().Hex()

	l.orderCreated(t, unknownTicket, unknownOrder)
	l.orderCancelled(t, unknownTicket, unknownOrder)
	l.orderCreated(t, "not-an-id", badOrder)
	l.orderCancelled(t, `{"$gt":""}`, badOrder)

	for _, s := range []events.Subject{events.SubjectOrderCreated, events.SubjectOrderCancelled} {
		err := l.handled.Wait(t, s, unknownOrder, 1)[0]
		assert.ErrorIs(t, err, ticket.ErrNotFound, "%s", s)
		assert.ErrorIs(t, err, bus.ErrPermanent, "%s: the ticket cannot come later", s)
		assert.ErrorIs(t, l.handled.Wait(t, s, badOrder, 1)[0], bus.ErrPermanent, "%s: it can never apply", s)
	}
	for _, dl := range l.deadLetters(t, 4, "the four events are dead letters") {
		assert.Equal(t, 1, dl.Deliveries, "%s %s at once", dl.Subject, dl.Data)
		assert.Equal(t, listener.Group, dl.Group)
		if strings.Contains(string(dl.Data), unknownTicket) {
			assert.Contains(t, dl.Err, "Ticket not found")
		}
	}

	time.Sleep(ackWait + 500*time.Millisecond) // only waiting past the ack wait shows that none comes back
	for _, order := range []string{unknownOrder, badOrder} {
		assert.Len(t, l.handled.Errs(events.SubjectOrderCreated, order), 1, "acknowledged: not delivered again")
		assert.Len(t, l.handled.Errs(events.SubjectOrderCancelled, order), 1, "acknowledged: not delivered again")
	}
	_, err := l.store.Get(t.Context(), unknownTicket)
	assert.ErrorIs(t, err, ticket.ErrNotFound, "no ticket made up")
	n, err := l.db.Collection(ticketdb.Collection).CountDocuments(t.Context(), bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	assert.Equal(t, tk, l.get(t, tk.ID), "the ticket there is unchanged")
	testkit.Quiet(t, l.updated, 300*time.Millisecond)
}

// The service as run wires it keeps an event it can never apply in its
// dead letters, at once, and goes on serving.
func TestRun_AMalformedEventIsADeadLetterAtOnce(t *testing.T) {
	t.Parallel()
	s := startService(t)
	order := bson.NewObjectID().Hex()
	require.NoError(t, bus.NewPublisher[events.OrderCreated](s.publisher(t)).Publish(t.Context(), events.OrderCreated{
		ID: order, Status: events.StatusCreated, UserID: newUserID(),
		ExpiresAt: events.NewTime(time.Now().Add(time.Minute)),
		Ticket:    events.OrderTicket{ID: "not-an-id", Price: 2000},
	}))

	letters := s.deadLetters(t, 1, "the event is a dead letter")
	assert.Equal(t, string(events.SubjectOrderCreated), letters[0].Subject)
	assert.Equal(t, "tickets-service", letters[0].Group)
	assert.Equal(t, 1, letters[0].Deliveries, "at once")
	assert.Contains(t, letters[0].Err, `malformed ticket id "not-an-id"`)
	assert.Contains(t, string(letters[0].Data), order)
	assert.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/api/tickets", "", nil).status, "still serving")
}

// deadLetters waits until the service's database holds n dead letters and
// returns them; msg says what it waits for.
func (s *service) deadLetters(t *testing.T, n int, msg string) []deadletter.Letter {
	t.Helper()
	var letters []deadletter.Letter
	eventually(t, func() bool {
		var err error
		letters, err = deadletter.New(s.db).List(t.Context())
		return err == nil && len(letters) == n
	}, msg)
	return letters
}

// eventually is testkit.Eventually for conditions that read the database.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	testkit.Eventually(t, cond, "%s", msg)
}
