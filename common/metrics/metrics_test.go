package metrics_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/event"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestNames_AreWhatTheInstrumentsRegister registers every instrument on one
// registry, as no service does, and records once through each: the names
// they expose are exactly Names, which the dashboard's test relies on.
func TestNames_AreWhatTheInstrumentsRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	h, err := metrics.NewHTTP(reg)
	require.NoError(t, err)
	mongo, err := metrics.NewMongo(reg)
	require.NoError(t, err)
	b, err := metrics.NewBus(reg)
	require.NoError(t, err)
	exp, err := metrics.NewExpiration(reg)
	require.NoError(t, err)
	stripe, err := metrics.NewStripe(reg)
	require.NoError(t, err)
	require.NoError(t, metrics.Outbox(reg, "tickets", func() (int, time.Time) { return 0, time.Time{} }))
	require.NoError(t, metrics.ScryptGate(reg, func() (int, int) { return 0, 0 }))
	sweep, err := metrics.NewSweep(reg)
	require.NoError(t, err)
	settle, err := metrics.NewSettlement(reg)
	require.NoError(t, err)

	// A vector exposes nothing until it has a series.
	h.Middleware(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	monitor := mongo.Monitor()
	monitor.Started(t.Context(), &event.CommandStartedEvent{CommandName: "ping"})
	monitor.Succeeded(t.Context(), &event.CommandSucceededEvent{CommandFinishedEvent: event.CommandFinishedEvent{CommandName: "ping"}})
	b.Published("ticket:created", nil)
	b.Published("ticket:created", errors.New("down"))
	b.Delivered("order:created", true)
	b.Handled("order:created", time.Millisecond, nil)
	b.DeadLettered("order:created", "payments-service")
	exp.Published(time.Millisecond)
	stripe.Request("charge", "succeeded", time.Millisecond)
	sweep.Swept()
	settle.Refunded("order_cancelled")
	settle.Reconciled("claim", "completed")
	families, err := reg.Gather()
	require.NoError(t, err, "pedantic registry: every metric is consistent")

	var got []string
	for _, f := range families {
		got = append(got, f.GetName())
	}
	assert.ElementsMatch(t, metrics.Names(), got)
	for _, n := range metrics.Names() {
		assert.True(t, strings.HasPrefix(n, "ticketing_"), n)
	}
}

func TestNew_SecondInstrumentOnARegistrySharesTheFirstsSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	first, err := metrics.NewBus(reg)
	require.NoError(t, err)
	second, err := metrics.NewBus(reg)
	require.NoError(t, err)

	first.Published("ticket:created", nil)
	second.Published("ticket:created", nil)

	s := metricstest.Gather(t, reg)
	assert.Equal(t, 2.0, s.Value(metrics.BusPublished, prometheus.Labels{"subject": "ticket:created"}))
}

func TestNewRegistry_HoldsTheGoRuntimesAndTheProcesssMetrics(t *testing.T) {
	s := metricstest.Gather(t, metrics.NewRegistry())

	assert.Contains(t, s, "go_goroutines")
	assert.Contains(t, s, "process_resident_memory_bytes")
}

func TestOutbox_ReadsTheBacklogAtEachScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	pending, oldest := 0, time.Time{}
	require.NoError(t, metrics.Outbox(reg, "orders", func() (int, time.Time) { return pending, oldest }))
	labels := prometheus.Labels{"collection": "orders"}

	s := metricstest.Gather(t, reg)
	assert.Equal(t, 0.0, s.Value(metrics.OutboxPending, labels))
	assert.Equal(t, 0.0, s.Value(metrics.OutboxOldestPendingAge, labels), "nothing pending is no age")

	pending, oldest = 3, time.Now().Add(-time.Minute)
	s = metricstest.Gather(t, reg)
	assert.Equal(t, 3.0, s.Value(metrics.OutboxPending, labels))
	assert.InDelta(t, 60, s.Value(metrics.OutboxOldestPendingAge, labels), 5)

	assert.Error(t, metrics.Outbox(reg, "orders", func() (int, time.Time) { return 0, time.Time{} }),
		"a second relay of one collection would go unseen")
}

func TestScryptGate_ReadsTheLoadAtEachScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	require.NoError(t, metrics.ScryptGate(reg, func() (int, int) { return 5, 2 }))

	s := metricstest.Gather(t, reg)

	assert.Equal(t, 5.0, s.Value(metrics.ScryptGateWaiting, nil))
	assert.Equal(t, 2.0, s.Value(metrics.ScryptGateRunning, nil))
}

func TestExpiration_CountsAnEarlyPublishAsOnTime(t *testing.T) {
	reg := prometheus.NewRegistry()
	exp, err := metrics.NewExpiration(reg)
	require.NoError(t, err)

	exp.Published(-time.Second)

	f := metricstest.Gather(t, reg)[metrics.ExpirationLateness]
	require.NotNil(t, f)
	assert.Equal(t, 0.0, f.GetMetric()[0].GetHistogram().GetSampleSum())
}

func TestNilRegistry_RegistersNothingAndRecordsNothing(t *testing.T) {
	h, err := metrics.NewHTTP(nil)
	assert.NoError(t, err)
	assert.Nil(t, h)
	m, err := metrics.NewMongo(nil)
	assert.NoError(t, err)
	assert.Nil(t, m.Monitor())
	b, err := metrics.NewBus(nil)
	assert.NoError(t, err)
	b.Published("ticket:created", nil)
	b.Delivered("ticket:created", true)
	b.Handled("ticket:created", time.Second, nil)
	b.Undecodable("ticket:created")
	e, err := metrics.NewExpiration(nil)
	assert.NoError(t, err)
	e.Published(time.Second)
	s, err := metrics.NewStripe(nil)
	assert.NoError(t, err)
	s.Request("charge", "succeeded", time.Second)
	assert.NoError(t, metrics.Outbox(nil, "tickets", nil))
	assert.NoError(t, metrics.ScryptGate(nil, nil))
}
