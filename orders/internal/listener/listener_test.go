package listener_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/listener"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/ordertest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func setup(t *testing.T) (*ordertest.Env, *listener.Handlers) {
	t.Helper()
	env := ordertest.New(t)
	return env, listener.New(env.Orders, testkit.Logger(t))
}

// ticket returns the replica's ticket, failing the test if it is missing.
func ticket(t *testing.T, env *ordertest.Env, id string) order.Ticket {
	t.Helper()
	tk, err := env.Store.Ticket(context.Background(), id)
	require.NoError(t, err)
	return tk
}

func getOrder(t *testing.T, env *ordertest.Env, id string) order.View {
	t.Helper()
	v, err := env.Store.Order(context.Background(), id)
	require.NoError(t, err)
	return v
}

// placed places an order for a new ticket and waits for its order:created
// to be published, so that later events are the test's alone.
func placed(t *testing.T, env *ordertest.Env) order.View {
	t.Helper()
	created := ordertest.Subscribe[events.OrderCreated](t, env)
	v, err := env.Orders.Place(t.Context(), "buyer", env.Ticket(t, "concert", 2000).ID)
	require.NoError(t, err)
	created.Next(t)
	return v
}

func TestTicketCreated_CreatesTheReplicaAndAcks(t *testing.T) {
	env, h := setup(t)
	e := events.TicketCreated{ID: ordertest.NewID(), Version: 0, Title: "concert", Price: 1099, UserID: "seller"}

	require.NoError(t, h.TicketCreated(t.Context(), e))

	assert.Equal(t, order.Ticket{ID: e.ID, Title: "concert", Price: 1099, Version: 0}, ticket(t, env, e.ID))
}

func TestTicketCreated_RedeliveryChangesNothingAndAcks(t *testing.T) {
	env, h := setup(t)
	e := events.TicketCreated{ID: ordertest.NewID(), Version: 0, Title: "concert", Price: 1099, UserID: "seller"}
	require.NoError(t, h.TicketCreated(t.Context(), e))
	require.NoError(t, h.TicketUpdated(t.Context(), events.TicketUpdated{ID: e.ID, Version: 1, Title: "new", Price: 1500}))

	require.NoError(t, h.TicketCreated(t.Context(), e))

	assert.Equal(t, order.Ticket{ID: e.ID, Title: "new", Price: 1500, Version: 1}, ticket(t, env, e.ID))
}

func TestTicketUpdated_FindsUpdatesAndAcks(t *testing.T) {
	env, h := setup(t)
	tk := env.Ticket(t, "concert", 1000)

	err := h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 1, Title: "new concert", Price: 999, UserID: "seller", OrderID: ordertest.NewID()})

	require.NoError(t, err)
	assert.Equal(t, order.Ticket{ID: tk.ID, Title: "new concert", Price: 999, Version: 1}, ticket(t, env, tk.ID))
}

func TestTicketUpdated_DoesNotAckAVersionFromTheFuture(t *testing.T) {
	env, h := setup(t)
	tk := env.Ticket(t, "concert", 1000)

	err := h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 2, Title: "too soon", Price: 5})

	assert.ErrorIs(t, err, order.ErrTicketBehind)
	assert.Equal(t, tk, ticket(t, env, tk.ID))
}

func TestTicketUpdated_DoesNotAckForAnUnknownTicket(t *testing.T) {
	env, h := setup(t)
	id := ordertest.NewID()

	err := h.TicketUpdated(t.Context(), events.TicketUpdated{ID: id, Version: 1, Title: "early", Price: 5})

	assert.ErrorIs(t, err, order.ErrTicketBehind)
	_, err = env.Store.Ticket(t.Context(), id)
	assert.ErrorIs(t, err, order.ErrTicketNotFound)
}

func TestTicketUpdated_AcksAVersionAlreadyApplied(t *testing.T) {
	env, h := setup(t)
	tk := env.Ticket(t, "concert", 1000)
	require.NoError(t, h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 1, Title: "v1", Price: 100}))
	require.NoError(t, h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 2, Title: "v2", Price: 200}))

	require.NoError(t, h.TicketUpdated(t.Context(), events.TicketUpdated{ID: tk.ID, Version: 1, Title: "v1", Price: 100}))

	assert.Equal(t, order.Ticket{ID: tk.ID, Title: "v2", Price: 200, Version: 2}, ticket(t, env, tk.ID))
}

// A malformed id can never apply: the event goes to the dead letters at
// once rather than being delivered again.
func TestEvents_MalformedIDIsPermanent(t *testing.T) {
	_, h := setup(t)
	assert.ErrorIs(t, h.TicketCreated(t.Context(), events.TicketCreated{ID: "not-an-id", Title: "x", Price: 1}), bus.ErrPermanent)
	assert.ErrorIs(t, h.TicketUpdated(t.Context(), events.TicketUpdated{ID: "not-an-id", Version: 1, Title: "x", Price: 1}), bus.ErrPermanent)
	assert.ErrorIs(t, h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: "not-an-id"}), bus.ErrPermanent)
	assert.ErrorIs(t, h.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p", OrderID: "not-an-id", StripeID: "ch_1"}), bus.ErrPermanent)
}

// A ticket:updated whose ticket is not in the replica yet may be waiting
// for its ticket:created: it is delivered again, not given up on.
func TestTicketUpdated_BeforeItsTicketIsNotPermanent(t *testing.T) {
	_, h := setup(t)
	err := h.TicketUpdated(t.Context(), events.TicketUpdated{ID: ordertest.NewID(), Version: 1, Title: "x", Price: 1})
	assert.ErrorIs(t, err, order.ErrTicketBehind)
	assert.NotErrorIs(t, err, bus.ErrPermanent)
}

// TestTicketUpdated_AppliesVersionsInOrderWhenDeliveredOutOfOrder publishes
// version 2 before version 1 on a real NATS Streaming server: version 2 is
// refused and redelivered until version 1 has landed.
func TestTicketUpdated_AppliesVersionsInOrderWhenDeliveredOutOfOrder(t *testing.T) {
	env, h := setup(t)
	require.NoError(t, h.Listen(t.Context(), env.Conn, time.Second))
	id := ordertest.NewID()
	ctx := t.Context()

	require.NoError(t, bus.NewPublisher[events.TicketCreated](env.Conn).Publish(ctx, events.TicketCreated{ID: id, Title: "v0", Price: 100}))
	updated := bus.NewPublisher[events.TicketUpdated](env.Conn)
	require.NoError(t, updated.Publish(ctx, events.TicketUpdated{ID: id, Version: 2, Title: "v2", Price: 300}))
	require.NoError(t, updated.Publish(ctx, events.TicketUpdated{ID: id, Version: 1, Title: "v1", Price: 200}))

	testkit.Eventually(t, func() bool {
		tk, err := env.Store.Ticket(context.Background(), id)
		return err == nil && tk.Version == 2
	}, "ticket %s never reached version 2", id)
	assert.Equal(t, order.Ticket{ID: id, Title: "v2", Price: 300, Version: 2}, ticket(t, env, id))
}

func TestExpirationComplete_CancelsTheOrderPublishesAndAcks(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	env.Clock.Advance(ordertest.Window)

	require.NoError(t, h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.Equal(t, events.OrderCancelled{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}, cancelled.Next(t))
}

func TestExpirationComplete_ReleasesTheTicket(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	env.Clock.Advance(ordertest.Window)

	require.NoError(t, h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	_, err := env.Orders.Place(t.Context(), "next-buyer", v.TicketID)
	assert.NoError(t, err)
}

// TestExpirationComplete_LeavesACompleteOrderWithoutEvent delivers the
// expiration before expiresAt too: a complete order is acked as it is, due
// or not.
func TestExpirationComplete_LeavesACompleteOrderWithoutEvent(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	require.NoError(t, h.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p1", OrderID: v.ID, StripeID: "ch_1"}))
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)

	require.NoError(t, h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusComplete, got.Status)
	assert.EqualValues(t, 1, got.Version)
	cancelled.None(t, 300*time.Millisecond)
}

// TestExpirationComplete_AcksAnOrderAlreadyCancelledWithoutEvent delivers
// the expiration before expiresAt too: a cancelled order is acked as it is,
// due or not.
func TestExpirationComplete_AcksAnOrderAlreadyCancelledWithoutEvent(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	_, err := env.Orders.Cancel(t.Context(), "buyer", v.ID)
	require.NoError(t, err)
	cancelled.Next(t)

	require.NoError(t, h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	assert.EqualValues(t, 1, getOrder(t, env, v.ID).Version)
	cancelled.None(t, 300*time.Millisecond)
}

// TestExpirationComplete_EarlyIsNotAckedAndCancelsNothing delivers the
// expiration a millisecond before expiresAt by the orders service's clock,
// as a clock running ahead in the expiration service would.
func TestExpirationComplete_EarlyIsNotAckedAndCancelsNothing(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	env.Clock.Advance(ordertest.Window - time.Millisecond)

	err := h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID})

	assert.ErrorIs(t, err, order.ErrNotDue)
	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusCreated, got.Status)
	assert.EqualValues(t, 0, got.Version)
	_, err = env.Orders.Place(t.Context(), "next-buyer", v.TicketID)
	assert.ErrorIs(t, err, order.ErrReserved, "the ticket stays locked")
	cancelled.None(t, 300*time.Millisecond)
}

// TestExpirationComplete_ALittleEarlyIsWaitedFor delivers the expiration
// 900 ms before expiresAt, within order.EarlyWait: the handler waits for
// the order to be due rather than refusing it, which would put the
// cancellation off by a whole ack wait.
func TestExpirationComplete_ALittleEarlyIsWaitedFor(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	env.Clock.Advance(ordertest.Window - 900*time.Millisecond)
	// The orders service's clock reaches expiresAt while the handler waits.
	// The handler waits on a real timer, 900 ms, and reads the fake clock
	// before and after it; nothing marks the moment it starts waiting, so
	// the clock moves halfway through, with time to spare on either side.
	const wait = 900 * time.Millisecond
	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		time.Sleep(wait / 2)
		env.Clock.Advance(wait)
	}()

	start := time.Now()
	require.NoError(t, h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))
	assert.GreaterOrEqual(t, time.Since(start), wait, "the handler did not wait: the clock moved before it looked")
	<-advanced

	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.Equal(t, events.OrderCancelled{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}, cancelled.Next(t))
}

// TestExpirationComplete_EarlyIsRedeliveredAndCancelsOnceDue publishes an
// expiration before the order is due on a real NATS Streaming server: it is
// refused and left unacked, delivered again after the ack wait, and cancels
// the order, once, when the orders service's clock has reached expiresAt.
func TestExpirationComplete_EarlyIsRedeliveredAndCancelsOnceDue(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	// The handlers as Listen subscribes them, reporting expiration:complete's
	// results.
	handled := make(chan error, 100)
	require.NoError(t, listener.Subscribe(t.Context(), env.Conn, time.Second, reporting{h, handled}))

	require.NoError(t, bus.NewPublisher[events.ExpirationComplete](env.Conn).Publish(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	assert.ErrorIs(t, next(t, handled), order.ErrNotDue)
	assert.Equal(t, events.StatusCreated, getOrder(t, env, v.ID).Status)
	env.Clock.Advance(ordertest.Window)
	// A redelivery may have come before the clock moved: it was refused too.
	for err := next(t, handled); err != nil; err = next(t, handled) {
		assert.ErrorIs(t, err, order.ErrNotDue)
	}
	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.Equal(t, events.OrderCancelled{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}, cancelled.Next(t))
	cancelled.None(t, 300*time.Millisecond)
}

// reporting is the handlers, reporting what ExpirationComplete returns.
type reporting struct {
	*listener.Handlers
	handled chan<- error
}

func (r reporting) ExpirationComplete(ctx context.Context, e events.ExpirationComplete) error {
	err := r.Handlers.ExpirationComplete(ctx, e)
	r.handled <- err
	return err
}

// next waits for the next handler result on ch.
func next(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery of expiration:complete")
		return nil
	}
}

// An expiration names an order that orders stored before announcing it:
// one that is unknown never will be, and goes to the dead letters at once.
func TestExpirationComplete_UnknownOrderIsPermanent(t *testing.T) {
	_, h := setup(t)
	err := h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: ordertest.NewID()})
	assert.ErrorIs(t, err, order.ErrNotFound)
	assert.ErrorIs(t, err, bus.ErrPermanent)
}

func TestPaymentCreated_CompletesTheOrderAndAcks(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)

	require.NoError(t, h.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p1", OrderID: v.ID, StripeID: "ch_1"}))

	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusComplete, got.Status)
	assert.EqualValues(t, 1, got.Version)
}

func TestPaymentCreated_RedeliveryChangesNothingAndAcks(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	e := events.PaymentCreated{ID: "p1", OrderID: v.ID, StripeID: "ch_1"}
	require.NoError(t, h.PaymentCreated(t.Context(), e))

	require.NoError(t, h.PaymentCreated(t.Context(), e))

	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusComplete, got.Status)
	assert.EqualValues(t, 1, got.Version)
}

func TestPaymentCreated_LeavesACancelledOrderCancelledAndAcks(t *testing.T) {
	env, h := setup(t)
	v := placed(t, env)
	env.Clock.Advance(ordertest.Window)
	require.NoError(t, h.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	require.NoError(t, h.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p1", OrderID: v.ID, StripeID: "ch_1"}))

	got := getOrder(t, env, v.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
}

func TestPaymentCreated_UnknownOrderIsPermanent(t *testing.T) {
	_, h := setup(t)
	err := h.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p1", OrderID: ordertest.NewID(), StripeID: "ch_1"})
	assert.ErrorIs(t, err, order.ErrNotFound)
	assert.ErrorIs(t, err, bus.ErrPermanent)
}

// TestListen_HandlesEveryEventOverNATS drives a ticket through its life on a
// real NATS Streaming server: listed, ordered and expired, ordered again and
// paid.
func TestListen_HandlesEveryEventOverNATS(t *testing.T) {
	env, h := setup(t)
	require.NoError(t, h.Listen(t.Context(), env.Conn, time.Second))
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	ctx := t.Context()
	id := ordertest.NewID()

	require.NoError(t, bus.NewPublisher[events.TicketCreated](env.Conn).Publish(ctx, events.TicketCreated{ID: id, Title: "concert", Price: 100}))
	testkit.Eventually(t, func() bool {
		_, err := env.Store.Ticket(context.Background(), id)
		return err == nil
	}, "ticket:created not applied")

	first, err := env.Orders.Place(ctx, "first", id)
	require.NoError(t, err)
	env.Clock.Advance(ordertest.Window)
	require.NoError(t, bus.NewPublisher[events.ExpirationComplete](env.Conn).Publish(ctx, events.ExpirationComplete{OrderID: first.ID}))
	assert.Equal(t, first.ID, cancelled.Next(t).ID)
	assert.Equal(t, events.StatusCancelled, getOrder(t, env, first.ID).Status)

	second, err := env.Orders.Place(ctx, "second", id)
	require.NoError(t, err)
	require.NoError(t, bus.NewPublisher[events.PaymentCreated](env.Conn).Publish(ctx, events.PaymentCreated{ID: "p1", OrderID: second.ID, StripeID: "ch_1"}))
	testkit.Eventually(t, func() bool {
		return getOrder(t, env, second.ID).Status == events.StatusComplete
	}, "payment:created not applied")
}
