package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/sweeper"
)

const grace = time.Minute

// newSweeper returns a sweeper of the service's orders, as run makes one,
// counting in a registry of its own.
func newSweeper(t *testing.T, s *wired, opts ...sweeper.Option) (*sweeper.Sweeper, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewSweep(reg)
	require.NoError(t, err)
	sw, err := sweeper.New(s.orders, grace, sweeper.Interval(grace), testkit.Logger(t), m, opts...)
	require.NoError(t, err)
	return sw, reg
}

// sweeping is a service with a sweeper of the test's own (newSweeper's),
// one order placed (v) and the order:cancelled events it publishes.
type sweeping struct {
	*wired
	sw        *sweeper.Sweeper
	reg       *prometheus.Registry
	v         order.View
	cancelled <-chan events.OrderCancelled
}

// startSweeping starts a service with a sweeper and places an order.
func startSweeping(t *testing.T) *sweeping {
	t.Helper()
	s := &sweeping{wired: startWired(t)}
	s.sw, s.reg = newSweeper(t, s.wired)
	s.v = s.placed(t)
	s.cancelled = testkit.Observe[events.OrderCancelled](t, s.nats)
	return s
}

// sweep runs one pass of the sweeper, requires it to succeed and returns
// how many orders it cancelled.
func (s *sweeping) sweep(t *testing.T) int {
	t.Helper()
	n, err := s.sw.Sweep(t.Context())
	require.NoError(t, err)
	return n
}

// swept is the sweeper's count of the orders it cancelled.
func (s *sweeping) swept(t *testing.T) float64 {
	t.Helper()
	return metricstest.Gather(t, s.reg).Value(metrics.OrdersSwept, nil)
}

func TestSweep_CancelsAnOrderPastItsGraceWhoseExpirationNeverCame(t *testing.T) {
	t.Parallel()
	s := startSweeping(t)
	s.clock.Advance(window + grace + time.Millisecond)

	assert.Equal(t, 1, s.sweep(t))

	s.assertOrder(t, s.v.ID, events.StatusCancelled, 1)
	assert.Equal(t, events.OrderCancelled{ID: s.v.ID, Version: 1, Ticket: events.TicketRef{ID: s.v.TicketID}}, testkit.Next(t, s.cancelled))
	_, err := s.orders.Place(t.Context(), "next-buyer", s.v.TicketID)
	assert.NoError(t, err, "the ticket is released")
	assert.Equal(t, 1.0, s.swept(t))

	assert.Zero(t, s.sweep(t), "a swept order is not swept again")
	testkit.Quiet(t, s.cancelled, 300*time.Millisecond)
}

func TestSweep_LeavesAnOrderWithinItsGrace(t *testing.T) {
	t.Parallel()
	s := startSweeping(t)
	// Expired, but expiration:complete may still be on its way.
	s.clock.Advance(window + grace - time.Millisecond)

	assert.Zero(t, s.sweep(t))

	assert.Equal(t, events.StatusCreated, s.getOrder(t, s.v.ID).Status)
	assert.Zero(t, s.swept(t))
	testkit.Quiet(t, s.cancelled, 300*time.Millisecond)
}

func TestSweep_LeavesCompleteAndCancelledOrders(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	sw, _ := newSweeper(t, s)
	paid, dropped := s.placed(t), s.placed(t)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
	_, err := s.orders.Pay(t.Context(), paid.ID)
	require.NoError(t, err)
	_, err = s.orders.Cancel(t.Context(), "buyer", dropped.ID)
	require.NoError(t, err)
	testkit.Next(t, cancelled) // the buyer's cancellation
	s.clock.Advance(window + 10*grace)

	n, err := sw.Sweep(t.Context())

	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, order.Order{ID: paid.ID, UserID: "buyer", Status: events.StatusComplete, ExpiresAt: paid.ExpiresAt, Version: 1, TicketID: paid.TicketID}, s.getOrder(t, paid.ID).Order)
	assert.Equal(t, order.Order{ID: dropped.ID, UserID: "buyer", Status: events.StatusCancelled, ExpiresAt: dropped.ExpiresAt, Version: 1, TicketID: dropped.TicketID}, s.getOrder(t, dropped.ID).Order)
	testkit.Quiet(t, cancelled, 300*time.Millisecond)
}

// TestSweep_WorksOffMoreOrdersThanABatchInOnePass sweeps five orders two at
// a time: one pass cancels them all, as after Redis lost a backlog of jobs.
func TestSweep_WorksOffMoreOrdersThanABatchInOnePass(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	sw, _ := newSweeper(t, s, sweeper.WithBatch(2))
	var ids []string
	for range 5 {
		v, err := s.orders.Place(t.Context(), "buyer", s.ticket(t, "concert", 2000).ID)
		require.NoError(t, err)
		ids = append(ids, v.ID)
	}
	s.clock.Advance(window + grace + time.Millisecond)

	n, err := sw.Sweep(t.Context())

	require.NoError(t, err)
	assert.Equal(t, 5, n)
	for _, id := range ids {
		assert.Equal(t, events.StatusCancelled, s.getOrder(t, id).Order.Status, id)
	}
}

// TestSweep_RacingExpirationCompleteCancelsOnce sweeps while
// expiration:complete arrives for the same order, several times each: the
// order is cancelled once, with one order:cancelled.
func TestSweep_RacingExpirationCompleteCancelsOnce(t *testing.T) {
	t.Parallel()
	s := startSweeping(t)
	s.clock.Advance(window + grace + time.Millisecond)

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := s.sw.Sweep(context.Background())
			assert.NoError(t, err)
		})
		wg.Go(func() {
			assert.NoError(t, s.handlers.ExpirationComplete(context.Background(), events.ExpirationComplete{OrderID: s.v.ID}))
		})
	}
	wg.Wait()

	s.assertOrder(t, s.v.ID, events.StatusCancelled, 1)
	assert.LessOrEqual(t, s.swept(t), 1.0)
	assert.EqualValues(t, 1, testkit.Next(t, s.cancelled).Version)
	testkit.Quiet(t, s.cancelled, 300*time.Millisecond)
}

// TestRun_SweepsUntilStopped runs the sweeper as run does: an order whose
// grace runs out while it runs is cancelled at a following interval, and
// cancelling the context stops it.
func TestRun_SweepsUntilStopped(t *testing.T) {
	t.Parallel()
	s := startWired(t)
	sw, err := sweeper.New(s.orders, grace, 20*time.Millisecond, testkit.Logger(t), nil)
	require.NoError(t, err)
	v := s.placed(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()

	s.clock.Advance(window + grace + time.Millisecond)

	testkit.Eventually(t, func() bool {
		return s.getOrder(t, v.ID).Order.Status == events.StatusCancelled
	}, "order %s never swept", v.ID)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once stopped")
	}
}
