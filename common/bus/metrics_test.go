package bus_test

import (
	"context"
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

func TestConn_CountsPublishesAndDeliveriesBySubject(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		reg := prometheus.NewRegistry()
		cfg := testkit.BusConfig(n)
		cfg.Metrics = reg
		cfg.LostAfter = 30 * time.Second
		conn := connect(t, cfg)
		var attempts atomic.Int32
		require.NoError(t, bus.NewListener(conn, "tickets-service", func(_ context.Context, e events.OrderCancelled) error {
			if attempts.Add(1) == 1 {
				return assert.AnError // delivered again after the ack wait
			}
			return nil
		}).WithAckWait(ackWait).Listen(t.Context()))
		subject := string(events.SubjectOrderCancelled)
		value := func(name string, labels prometheus.Labels) float64 {
			return metricstest.Gather(t, reg).Value(name, labels)
		}

		require.NoError(t, conn.Publish(t.Context(), subject, []byte("not json")))
		publishOrders(t, conn, "o1")

		testkit.Eventually(t, func() bool {
			return value(metrics.BusHandled, prometheus.Labels{"subject": subject, "outcome": metrics.OutcomeAcked}) == 1
		}, "the failed event handled on its redelivery")
		assert.Equal(t, 2.0, value(metrics.BusPublished, prometheus.Labels{"subject": subject}))
		assert.Equal(t, 1.0, value(metrics.BusHandled, prometheus.Labels{"subject": subject, "outcome": metrics.OutcomeFailed}))
		assert.Equal(t, 1.0, value(metrics.BusHandled, prometheus.Labels{"subject": subject, "outcome": metrics.OutcomeUndecodable}))
		assert.Equal(t, 1.0, value(metrics.BusRedelivered, prometheus.Labels{"subject": subject}))
		assert.Equal(t, 2.0, value(metrics.BusHandlerDuration, prometheus.Labels{"subject": subject}), "the handler ran twice")
		assert.Zero(t, value(metrics.BusPublishFailures, nil))

		n.Stop()
		testkit.Eventually(t, func() bool { return conn.Ping(t.Context()) != nil }, "disconnect noticed")
		require.Error(t, bus.NewPublisher[events.TicketCreated](conn).Publish(t.Context(), events.TicketCreated{ID: "t1"}))
		assert.Equal(t, 1.0, value(metrics.BusPublishFailures, prometheus.Labels{"subject": string(events.SubjectTicketCreated)}))
	})
}
