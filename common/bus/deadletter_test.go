package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
)

// sink is a dead-letter sink that hands what it stores to a channel, and
// fails while fail says so. Package deadletter's tests drive the MongoDB
// sink through the same bus.
type sink struct {
	stored chan bus.DeadLetter
	fail   func() bool
	puts   atomic.Int32
}

func newSink() *sink {
	return &sink{stored: make(chan bus.DeadLetter, 16), fail: func() bool { return false }}
}

func (s *sink) Put(_ context.Context, d bus.DeadLetter) error {
	s.puts.Add(1)
	if s.fail() {
		return errors.New("sink unavailable")
	}
	s.stored <- d
	return nil
}

// next waits for the next dead letter stored.
func (s *sink) next(t *testing.T) bus.DeadLetter {
	t.Helper()
	select {
	case d := <-s.stored:
		return d
	case <-time.After(15 * time.Second):
		t.Fatal("no dead letter stored")
		return bus.DeadLetter{}
	}
}

// deadLetterBus connects with cfg, sink s, a delivery limit of
// maxDeliveries, a registry and a log recorder.
func deadLetterBus(t *testing.T, cfg bus.Config, s bus.DeadLetterSink, maxDeliveries int) (*bus.Conn, *prometheus.Registry, *recorderState) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	cfg.DeadLetters = s
	cfg.MaxDeliveries = maxDeliveries
	state := &recorderState{}
	conn, err := bus.Connect(t.Context(), cfg, slog.New(&recorder{next: testkit.Logger(t).Handler(), state: state}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn, reg, state
}

// attempts counts a handler's calls by event id.
type attempts struct {
	mu sync.Mutex
	n  map[string]int
}

func (a *attempts) add(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == nil {
		a.n = map[string]int{}
	}
	a.n[id]++
	return a.n[id]
}

func (a *attempts) of(id string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n[id]
}

func TestListener_PanickingHandlerIsRecoveredAndTheNextDeliveryHandled(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, bus.Workers} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			t.Parallel()
			testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
				state := &recorderState{}
				conn, err := bus.Connect(t.Context(), testkit.BusConfig(n), slog.New(&recorder{next: testkit.Logger(t).Handler(), state: state}))
				require.NoError(t, err)
				t.Cleanup(func() { _ = conn.Close() })

				var tries attempts
				var got testkit.Inbox[events.OrderCancelled]
				require.NoError(t, bus.NewListener(conn, "tickets-service", func(ctx context.Context, e events.OrderCancelled) error {
					if tries.add(e.ID) == 1 && e.ID == "o1" {
						panic(fmt.Errorf("no ticket for order %s", e.ID))
					}
					return got.Handle(ctx, e)
				}).WithAckWait(ackWait).WithWorkers(workers, func(e events.OrderCancelled) string { return e.ID }).Listen(t.Context()))

				publishOrders(t, conn, "o1", "o2")

				testkit.Eventually(t, func() bool { return got.Len() == 2 }, "both events handled, o1 on its redelivery")
				assert.ElementsMatch(t, []string{"o1", "o2"}, orderIDs(got.Events()))
				assert.Equal(t, 2, tries.of("o1"), "o1 panicked once, then was handled")
				assert.Equal(t, 1, state.count("handler panicked"))
				assert.NoError(t, conn.Err(), "the connection lives on")
				publishOrders(t, conn, "o3")
				testkit.Eventually(t, func() bool { return got.Len() == 3 }, "events after the panic")
			})
		})
	}
}

func TestListener_AlwaysFailingEventIsDeadLetteredAfterMaxDeliveriesWhileOthersFlow(t *testing.T) {
	t.Parallel()
	const maxDeliveries = 3
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		s := newSink()
		conn, reg, state := deadLetterBus(t, testkit.BusConfig(n), s, maxDeliveries)
		var tries attempts
		var got testkit.Inbox[events.OrderCancelled]
		require.NoError(t, bus.NewListener(conn, "tickets-service", func(ctx context.Context, e events.OrderCancelled) error {
			tries.add(e.ID)
			if e.ID == "poison" {
				return fmt.Errorf("ticket %s: %w", e.Ticket.ID, assert.AnError)
			}
			return got.Handle(ctx, e)
		}).WithAckWait(ackWait).Listen(t.Context()))

		publishOrders(t, conn, "poison", "o1", "o2")
		testkit.Eventually(t, func() bool { return got.Len() == 2 }, "the events behind the poison handled")
		assert.Empty(t, s.stored, "dead-lettered before its deliveries were over")

		d := s.next(t)
		assert.Equal(t, maxDeliveries, tries.of("poison"), "handler calls before the dead letter")
		assert.Equal(t, string(events.SubjectOrderCancelled), d.Subject)
		assert.Equal(t, "tickets-service", d.Group)
		assert.JSONEq(t, `{"id":"poison","version":0,"ticket":{"id":"t"}}`, string(d.Data))
		assert.Contains(t, d.Err, assert.AnError.Error())
		assert.Equal(t, maxDeliveries, d.Deliveries)
		assert.Equal(t, uint64(1), d.Sequence)
		assert.WithinDuration(t, time.Now(), d.Published, time.Minute)
		assert.False(t, d.At.Before(d.Published))

		// It was acknowledged: nothing comes back one ack wait later.
		assert.Never(t, func() bool { return tries.of("poison") > maxDeliveries || got.Len() > 2 }, pastAckWait, tick,
			"delivered again after it was dead-lettered")
		assert.Equal(t, maxDeliveries, tries.of("poison"), "delivered again after it was dead-lettered")
		assert.Equal(t, []string{"o1", "o2"}, orderIDs(got.Events()))
		assert.Equal(t, 1, state.count("event given up on and stored as a dead letter"))

		samples := metricstest.Gather(t, reg)
		subject := string(events.SubjectOrderCancelled)
		assert.Equal(t, 1.0, samples.Value(metrics.BusDeadLettered, prometheus.Labels{"subject": subject, "group": "tickets-service"}))
		assert.Equal(t, float64(maxDeliveries), samples.Value(metrics.BusHandled, prometheus.Labels{"subject": subject, "outcome": metrics.OutcomeFailed}))
		assert.Equal(t, 2.0, samples.Value(metrics.BusHandled, prometheus.Labels{"subject": subject, "outcome": metrics.OutcomeAcked}))
	})
}

func TestListener_PermanentErrorIsDeadLetteredAtOnce(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		s := newSink()
		conn, reg, _ := deadLetterBus(t, testkit.BusConfig(n), s, 0) // the default limit, 10
		var tries attempts
		require.NoError(t, bus.NewListener(conn, "payments-service", func(_ context.Context, e events.OrderCancelled) error {
			tries.add(e.ID)
			return bus.Permanent(fmt.Errorf("order id %q is malformed", e.ID))
		}).WithAckWait(ackWait).Listen(t.Context()))

		publishOrders(t, conn, "not-an-id")

		d := s.next(t)
		assert.Equal(t, 1, d.Deliveries)
		assert.Equal(t, `order id "not-an-id" is malformed`, d.Err)
		assert.Equal(t, "payments-service", d.Group)
		assert.Never(t, func() bool { return tries.of("not-an-id") > 1 }, pastAckWait, tick, "redelivered after it was dead-lettered")
		assert.Equal(t, 1, tries.of("not-an-id"))
		assert.Equal(t, 1.0, metricstest.Gather(t, reg).Value(metrics.BusDeadLettered,
			prometheus.Labels{"subject": string(events.SubjectOrderCancelled), "group": "payments-service"}))
	})
}

func TestListener_PanicsAreDeadLetteredLikeErrors(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		s := newSink()
		conn, _, state := deadLetterBus(t, testkit.BusConfig(n), s, 2)
		var tries attempts
		require.NoError(t, bus.NewListener(conn, "orders-service", func(_ context.Context, e events.OrderCancelled) error {
			tries.add(e.ID)
			panic("cannot handle " + e.ID)
		}).WithAckWait(ackWait).WithWorkers(bus.Workers, func(e events.OrderCancelled) string { return e.ID }).Listen(t.Context()))

		publishOrders(t, conn, "o1")

		d := s.next(t)
		assert.Equal(t, 2, d.Deliveries)
		assert.Equal(t, 2, tries.of("o1"))
		assert.Contains(t, d.Err, "handler panicked: cannot handle o1")
		assert.Equal(t, 2, state.count("handler panicked"))
	})
}

func TestListener_FailingSinkLeavesTheEventUnacked(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		s := newSink()
		var failures atomic.Int32
		failures.Store(2)
		s.fail = func() bool { return failures.Add(-1) >= 0 } // the first two puts fail
		conn, reg, state := deadLetterBus(t, testkit.BusConfig(n), s, 1)
		var tries attempts
		require.NoError(t, bus.NewListener(conn, "tickets-service", func(_ context.Context, e events.OrderCancelled) error {
			tries.add(e.ID)
			return assert.AnError
		}).WithAckWait(ackWait).Listen(t.Context()))

		publishOrders(t, conn, "o1")

		d := s.next(t)
		assert.Equal(t, 3, tries.of("o1"), "delivered again after each failed put")
		assert.Equal(t, 3, d.Deliveries)
		assert.Equal(t, 2, state.count("dead letter not stored; the event will be redelivered"))
		assert.Never(t, func() bool { return tries.of("o1") > 3 }, pastAckWait, tick, "redelivered after it was dead-lettered")
		assert.Equal(t, 3, tries.of("o1"))
		assert.EqualValues(t, 3, s.puts.Load())
		assert.Equal(t, 1.0, metricstest.Gather(t, reg).Value(metrics.BusDeadLettered, nil), "counted once, when stored")
	})
}

func TestListener_UndecodablePayloadIsDeadLetteredAtOnceWithASink(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		s := newSink()
		conn, reg, _ := deadLetterBus(t, testkit.BusConfig(n), s, 5)
		var got testkit.Inbox[events.OrderCancelled]
		require.NoError(t, bus.NewListener(conn, "tickets-service", got.Handle).
			WithAckWait(ackWait).WithWorkers(2, func(e events.OrderCancelled) string { return e.ID }).Listen(t.Context()))

		require.NoError(t, conn.Publish(t.Context(), string(events.SubjectOrderCancelled), []byte("not json")))
		publishOrders(t, conn, "o1")

		d := s.next(t)
		assert.Equal(t, "not json", string(d.Data))
		assert.Equal(t, 1, d.Deliveries)
		assert.Contains(t, d.Err, "undecodable")
		testkit.Eventually(t, func() bool { return got.Len() == 1 }, "the good event after the bad one")
		samples := metricstest.Gather(t, reg)
		subject := string(events.SubjectOrderCancelled)
		assert.Equal(t, 1.0, samples.Value(metrics.BusHandled, prometheus.Labels{"subject": subject, "outcome": metrics.OutcomeUndecodable}))
		assert.Equal(t, 1.0, samples.Value(metrics.BusDeadLettered, prometheus.Labels{"subject": subject, "group": "tickets-service"}))
	})
}

func TestListener_WithoutASinkFailedEventsOutliveTheLimit(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		cfg := testkit.BusConfig(n)
		cfg.MaxDeliveries = 1
		conn := connect(t, cfg)
		var tries attempts
		require.NoError(t, bus.NewListener(conn, "tickets-service", func(_ context.Context, e events.OrderCancelled) error {
			if tries.add(e.ID) < 3 {
				return bus.Permanent(assert.AnError)
			}
			return nil
		}).WithAckWait(ackWait).Listen(t.Context()))

		publishOrders(t, conn, "o1")

		testkit.Eventually(t, func() bool { return tries.of("o1") == 3 }, "delivered until handled")
	})
}

func TestConnect_RefusesANegativeDeliveryLimit(t *testing.T) {
	t.Parallel()
	cfg := bus.Config{URL: "nats://127.0.0.1:1", ClusterID: "ticketing", ClientID: "c", MaxDeliveries: -1}
	_, err := bus.Connect(t.Context(), cfg, testkit.Logger(t))
	require.ErrorContains(t, err, "MaxDeliveries must be at least 1")
}

func TestPermanent_IsFoundByErrorsIsAndKeepsTheCause(t *testing.T) {
	cause := errors.New("malformed id")
	err := fmt.Errorf("apply order:created: %w", bus.Permanent(cause))

	assert.ErrorIs(t, err, bus.ErrPermanent)
	assert.ErrorIs(t, err, cause)
	assert.Equal(t, "apply order:created: malformed id", err.Error())
	assert.NotErrorIs(t, cause, bus.ErrPermanent)
	assert.NotErrorIs(t, fmt.Errorf("version gap: %w", assert.AnError), bus.ErrPermanent)
	assert.NoError(t, bus.Permanent(nil))
	assert.ErrorIs(t, fmt.Errorf("bad: %w", bus.ErrPermanent), bus.ErrPermanent, "wrapping the sentinel marks too")
}
