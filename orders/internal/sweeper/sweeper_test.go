package sweeper_test

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
	"ticketing.dev/orders/internal/listener"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/ordertest"
	"ticketing.dev/orders/internal/sweeper"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const grace = time.Minute

func newSweeper(t *testing.T, env *ordertest.Env, opts ...sweeper.Option) (*sweeper.Sweeper, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.NewSweep(reg)
	require.NoError(t, err)
	s, err := sweeper.New(env.Orders, grace, sweeper.Interval(grace), testkit.Logger(t), m, opts...)
	require.NoError(t, err)
	return s, reg
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

func status(t *testing.T, env *ordertest.Env, id string) order.Order {
	t.Helper()
	v, err := env.Store.Order(context.Background(), id)
	require.NoError(t, err)
	return v.Order
}

func TestSweep_CancelsAnOrderPastItsGraceWhoseExpirationNeverCame(t *testing.T) {
	env := ordertest.New(t)
	s, reg := newSweeper(t, env)
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	env.Clock.Advance(ordertest.Window + grace + time.Millisecond)

	n, err := s.Sweep(t.Context())

	require.NoError(t, err)
	assert.Equal(t, 1, n)
	got := status(t, env, v.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.Equal(t, events.OrderCancelled{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}, cancelled.Next(t))
	_, err = env.Orders.Place(t.Context(), "next-buyer", v.TicketID)
	assert.NoError(t, err, "the ticket is released")
	assert.Equal(t, 1.0, metricstest.Gather(t, reg).Value(metrics.OrdersSwept, nil))

	n, err = s.Sweep(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "a swept order is not swept again")
	cancelled.None(t, 300*time.Millisecond)
}

func TestSweep_LeavesAnOrderWithinItsGrace(t *testing.T) {
	env := ordertest.New(t)
	s, reg := newSweeper(t, env)
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	// Expired, but expiration:complete may still be on its way.
	env.Clock.Advance(ordertest.Window + grace - time.Millisecond)

	n, err := s.Sweep(t.Context())

	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, events.StatusCreated, status(t, env, v.ID).Status)
	assert.Zero(t, metricstest.Gather(t, reg).Value(metrics.OrdersSwept, nil))
	cancelled.None(t, 300*time.Millisecond)
}

func TestSweep_LeavesCompleteAndCancelledOrders(t *testing.T) {
	env := ordertest.New(t)
	s, _ := newSweeper(t, env)
	paid, dropped := placed(t, env), placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	_, err := env.Orders.Pay(t.Context(), paid.ID)
	require.NoError(t, err)
	_, err = env.Orders.Cancel(t.Context(), "buyer", dropped.ID)
	require.NoError(t, err)
	cancelled.Next(t) // the buyer's cancellation
	env.Clock.Advance(ordertest.Window + 10*grace)

	n, err := s.Sweep(t.Context())

	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, order.Order{ID: paid.ID, UserID: "buyer", Status: events.StatusComplete, ExpiresAt: paid.ExpiresAt, Version: 1, TicketID: paid.TicketID}, status(t, env, paid.ID))
	assert.Equal(t, order.Order{ID: dropped.ID, UserID: "buyer", Status: events.StatusCancelled, ExpiresAt: dropped.ExpiresAt, Version: 1, TicketID: dropped.TicketID}, status(t, env, dropped.ID))
	cancelled.None(t, 300*time.Millisecond)
}

// TestSweep_WorksOffMoreOrdersThanABatchInOnePass sweeps five orders two at
// a time: one pass cancels them all, as after Redis lost a backlog of jobs.
func TestSweep_WorksOffMoreOrdersThanABatchInOnePass(t *testing.T) {
	env := ordertest.New(t)
	s, _ := newSweeper(t, env, sweeper.WithBatch(2))
	var ids []string
	for range 5 {
		v, err := env.Orders.Place(t.Context(), "buyer", env.Ticket(t, "concert", 2000).ID)
		require.NoError(t, err)
		ids = append(ids, v.ID)
	}
	env.Clock.Advance(ordertest.Window + grace + time.Millisecond)

	n, err := s.Sweep(t.Context())

	require.NoError(t, err)
	assert.Equal(t, 5, n)
	for _, id := range ids {
		assert.Equal(t, events.StatusCancelled, status(t, env, id).Status, id)
	}
}

// TestSweep_RacingExpirationCompleteCancelsOnce sweeps while
// expiration:complete arrives for the same order, several times each: the
// order is cancelled once, with one order:cancelled.
func TestSweep_RacingExpirationCompleteCancelsOnce(t *testing.T) {
	env := ordertest.New(t)
	s, reg := newSweeper(t, env)
	h := listener.New(env.Orders, testkit.Logger(t))
	v := placed(t, env)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	env.Clock.Advance(ordertest.Window + grace + time.Millisecond)

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := s.Sweep(context.Background())
			assert.NoError(t, err)
		})
		wg.Go(func() {
			assert.NoError(t, h.ExpirationComplete(context.Background(), events.ExpirationComplete{OrderID: v.ID}))
		})
	}
	wg.Wait()

	got := status(t, env, v.ID)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.LessOrEqual(t, metricstest.Gather(t, reg).Value(metrics.OrdersSwept, nil), 1.0)
	assert.EqualValues(t, 1, cancelled.Next(t).Version)
	cancelled.None(t, 300*time.Millisecond)
}

// TestRun_SweepsUntilStopped runs the sweeper as run does: an order whose
// grace runs out while it runs is cancelled at a following interval, and
// cancelling the context stops it.
func TestRun_SweepsUntilStopped(t *testing.T) {
	env := ordertest.New(t)
	s, err := sweeper.New(env.Orders, grace, 20*time.Millisecond, testkit.Logger(t), nil)
	require.NoError(t, err)
	v := placed(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	env.Clock.Advance(ordertest.Window + grace + time.Millisecond)

	testkit.Eventually(t, func() bool {
		return status(t, env, v.ID).Status == events.StatusCancelled
	}, "order %s never swept", v.ID)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return once stopped")
	}
}

func TestNew_RefusesANonPositiveInterval(t *testing.T) {
	env := ordertest.New(t)
	_, err := sweeper.New(env.Orders, grace, 0, testkit.Logger(t), nil)
	assert.Error(t, err)
}
