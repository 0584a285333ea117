package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/order"
)

// assertOrder checks the status and version of the order as stored.
func (s *wired) assertOrder(t *testing.T, id string, status events.OrderStatus, version int64) {
	t.Helper()
	got := s.getOrder(t, id)
	assert.Equal(t, status, got.Status)
	assert.EqualValues(t, version, got.Version)
}

// TestTicketUpdated_AppliesVersionsInOrderWhenDeliveredOutOfOrder publishes
// version 2 before version 1 on a real NATS Streaming server: version 2 is
// refused and redelivered until version 1 has landed.
func TestTicketUpdated_AppliesVersionsInOrderWhenDeliveredOutOfOrder(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	id := newID()

	publish(t, s, events.TicketCreated{ID: id, Title: "v0", Price: 100})
	publish(t, s, events.TicketUpdated{ID: id, Version: 2, Title: "v2", Price: 300})
	publish(t, s, events.TicketUpdated{ID: id, Version: 1, Title: "v1", Price: 200})

	testkit.Eventually(t, func() bool {
		tk, err := s.store.Ticket(context.Background(), id)
		return err == nil && tk.Version == 2
	}, "ticket %s never reached version 2", id)
	assert.Equal(t, order.Ticket{ID: id, Title: "v2", Price: 300, Version: 2}, s.replica(t, id))
}

func TestExpirationComplete_CancelsTheOrderPublishesAndAcks(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	v := s.placed(t)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
	s.clock.Advance(window)

	require.NoError(t, s.handlers.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	s.assertOrder(t, v.ID, events.StatusCancelled, 1)
	assert.Equal(t, events.OrderCancelled{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}, testkit.Next(t, cancelled))
}

func TestExpirationComplete_ReleasesTheTicket(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	v := s.placed(t)
	s.clock.Advance(window)

	require.NoError(t, s.handlers.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

	_, err := s.orders.Place(t.Context(), "next-buyer", v.TicketID)
	assert.NoError(t, err)
}

// TestExpirationComplete_AcksACompleteOrCancelledOrderAsItIsWithoutEvent
// delivers the expiration before expiresAt too: an order paid or cancelled
// by its buyer is acked as it is, due or not.
func TestExpirationComplete_AcksACompleteOrCancelledOrderAsItIsWithoutEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// end pays for or cancels the order, reading the order:cancelled
		// that a cancellation publishes.
		end  func(t *testing.T, s *wired, v order.View, cancelled <-chan events.OrderCancelled)
		want events.OrderStatus
	}{
		{"complete", func(t *testing.T, s *wired, v order.View, _ <-chan events.OrderCancelled) {
			require.NoError(t, s.handlers.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p1", OrderID: v.ID, StripeID: "ch_1"}))
		}, events.StatusComplete},
		{"cancelled by its buyer", func(t *testing.T, s *wired, v order.View, cancelled <-chan events.OrderCancelled) {
			_, err := s.orders.Cancel(t.Context(), "buyer", v.ID)
			require.NoError(t, err)
			testkit.Next(t, cancelled)
		}, events.StatusCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startWired(t)
			v := s.placed(t)
			cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
			tt.end(t, s, v, cancelled)

			require.NoError(t, s.handlers.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))

			s.assertOrder(t, v.ID, tt.want, 1)
			testkit.Quiet(t, cancelled, 300*time.Millisecond)
		})
	}
}

// TestExpirationComplete_EarlyIsNotAckedAndCancelsNothing delivers the
// expiration a millisecond before expiresAt by the orders service's clock,
// as a clock running ahead in the expiration service would.
func TestExpirationComplete_EarlyIsNotAckedAndCancelsNothing(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	v := s.placed(t)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
	s.clock.Advance(window - time.Millisecond)

	err := s.handlers.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID})

	assert.ErrorIs(t, err, order.ErrNotDue)
	s.assertOrder(t, v.ID, events.StatusCreated, 0)
	_, err = s.orders.Place(t.Context(), "next-buyer", v.TicketID)
	assert.ErrorIs(t, err, order.ErrReserved, "the ticket stays locked")
	testkit.Quiet(t, cancelled, 300*time.Millisecond)
}

// TestExpirationComplete_ALittleEarlyIsWaitedFor delivers the expiration
// 900 ms before expiresAt, within order.EarlyWait: the handler waits for
// the order to be due rather than refusing it, which would put the
// cancellation off by a whole ack wait. It is not parallel: its margins
// are of real time.
func TestExpirationComplete_ALittleEarlyIsWaitedFor(t *testing.T) {
	s := startWired(t)
	v := s.placed(t)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
	s.clock.Advance(window - 900*time.Millisecond)
	// The orders service's clock reaches expiresAt while the handler waits.
	// The handler waits on a real timer, 900 ms, and reads the fake clock
	// before and after it; nothing marks the moment it starts waiting, so
	// the clock moves halfway through, with time to spare on either side.
	const wait = 900 * time.Millisecond
	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		time.Sleep(wait / 2)
		s.clock.Advance(wait)
	}()

	start := time.Now()
	require.NoError(t, s.handlers.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: v.ID}))
	assert.GreaterOrEqual(t, time.Since(start), wait, "the handler did not wait: the clock moved before it looked")
	<-advanced

	got := s.getOrder(t, v.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.Equal(t, events.OrderCancelled{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}, testkit.Next(t, cancelled))
}

// TestExpirationComplete_EarlyIsRedeliveredAndCancelsOnceDue publishes an
// expiration before the order is due on a real NATS Streaming server: it is
// refused and left unacked, delivered again after the ack wait, and cancels
// the order, once, when the orders service's clock has reached expiresAt.
func TestExpirationComplete_EarlyIsRedeliveredAndCancelsOnceDue(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	v := s.placed(t)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)

	publish(t, s, events.ExpirationComplete{OrderID: v.ID})

	testkit.Eventually(t, func() bool { return len(s.expirations(v.ID)) > 0 }, "no delivery of expiration:complete")
	assert.ErrorIs(t, s.expirations(v.ID)[0], order.ErrNotDue)
	assert.Equal(t, events.StatusCreated, s.getOrder(t, v.ID).Status)
	s.clock.Advance(window)
	testkit.Eventually(t, func() bool {
		handled := s.expirations(v.ID)
		return handled[len(handled)-1] == nil
	}, "expiration:complete never acked once due")
	// A redelivery may have come before the clock moved: it was refused too.
	handled := s.expirations(v.ID)
	for _, err := range handled[:len(handled)-1] {
		assert.ErrorIs(t, err, order.ErrNotDue)
	}
	s.assertOrder(t, v.ID, events.StatusCancelled, 1)
	assert.Equal(t, events.OrderCancelled{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}, testkit.Next(t, cancelled))
	testkit.Quiet(t, cancelled, 300*time.Millisecond)
}

// An expiration names an order that orders stored before announcing it:
// one that is unknown never will be, and goes to the dead letters at once.
func TestExpirationComplete_UnknownOrderIsPermanent(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	err := s.handlers.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: newID()})
	assert.ErrorIs(t, err, order.ErrNotFound)
	assert.ErrorIs(t, err, bus.ErrPermanent)
}

// TestPaymentCreated_CompletesOnlyAnOpenOrderAndAcks: a payment completes
// the order it pays for; its redelivery, or a payment for an order that
// expired meanwhile, changes nothing; each is acked.
func TestPaymentCreated_CompletesOnlyAnOpenOrderAndAcks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before is what happened to the order before e.
		before func(t *testing.T, s *wired, e events.PaymentCreated)
		want   events.OrderStatus
	}{
		{"completes the order", func(*testing.T, *wired, events.PaymentCreated) {}, events.StatusComplete},
		{"a redelivery changes nothing", func(t *testing.T, s *wired, e events.PaymentCreated) {
			require.NoError(t, s.handlers.PaymentCreated(t.Context(), e))
		}, events.StatusComplete},
		{"leaves a cancelled order cancelled", func(t *testing.T, s *wired, e events.PaymentCreated) {
			s.clock.Advance(window)
			require.NoError(t, s.handlers.ExpirationComplete(t.Context(), events.ExpirationComplete{OrderID: e.OrderID}))
		}, events.StatusCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startWired(t)
			e := events.PaymentCreated{ID: "p1", OrderID: s.placed(t).ID, StripeID: "ch_1"}
			tt.before(t, s, e)

			require.NoError(t, s.handlers.PaymentCreated(t.Context(), e))

			s.assertOrder(t, e.OrderID, tt.want, 1)
		})
	}
}

func TestPaymentCreated_UnknownOrderIsPermanent(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	err := s.handlers.PaymentCreated(t.Context(), events.PaymentCreated{ID: "p1", OrderID: newID(), StripeID: "ch_1"})
	assert.ErrorIs(t, err, order.ErrNotFound)
	assert.ErrorIs(t, err, bus.ErrPermanent)
}

// TestSubscribe_HandlesEveryEventOverNATS drives a ticket through its life on a
// real NATS Streaming server: listed, ordered and expired, ordered again and
// paid.
func TestSubscribe_HandlesEveryEventOverNATS(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
	ctx := t.Context()
	id := newID()

	publish(t, s, events.TicketCreated{ID: id, Title: "concert", Price: 100})
	testkit.Eventually(t, func() bool {
		_, err := s.store.Ticket(context.Background(), id)
		return err == nil
	}, "ticket:created not applied")

	first, err := s.orders.Place(ctx, "first", id)
	require.NoError(t, err)
	s.clock.Advance(window)
	publish(t, s, events.ExpirationComplete{OrderID: first.ID})
	assert.Equal(t, first.ID, testkit.Next(t, cancelled).ID)
	assert.Equal(t, events.StatusCancelled, s.getOrder(t, first.ID).Status)

	second, err := s.orders.Place(ctx, "second", id)
	require.NoError(t, err)
	publish(t, s, events.PaymentCreated{ID: "p1", OrderID: second.ID, StripeID: "ch_1"})
	testkit.Eventually(t, func() bool {
		return s.getOrder(t, second.ID).Status == events.StatusComplete
	}, "payment:created not applied")
}
