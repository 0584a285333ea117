package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
)

// TestRun_ServesMetricsOnTheDebugAddress checks what the orders service
// counts, as Prometheus scrapes it from DEBUG_ADDR: the events it handles
// and publishes, its requests by route, its MongoDB commands by
// collection, and its outbox's backlog.
func TestRun_ServesMetricsOnTheDebugAddress(t *testing.T) {
	t.Parallel()
	debugAddr := testkit.FreeAddr(t)
	s := startWith(t, nil, map[string]string{"DEBUG_ADDR": debugAddr})
	url := "http://" + debugAddr + "/metrics"
	before := metricstest.Scrape(t, url)
	conn := testkit.Bus(t, s.nats)
	ticketID := "6b06f206db0ebb1c9087ba30"
	require.NoError(t, bus.NewPublisher[events.TicketCreated](conn).Publish(t.Context(),
		events.TicketCreated{ID: ticketID, Title: "concert", Price: 2500, UserID: "seller"}))
	rises := func(name string, labels prometheus.Labels) {
		t.Helper()
		metricstest.EventuallyRises(t, url, before, 1, name, labels)
	}
	rises(metrics.BusHandled, prometheus.Labels{"subject": string(events.SubjectTicketCreated), "outcome": metrics.OutcomeAcked})

	req, err := http.NewRequest(http.MethodPost, s.URL+"/api/orders", strings.NewReader(`{"ticketId":"`+ticketID+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", cookie(t, "6b06f206db0ebb1c9087ba31"))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	res, err = http.Get(s.URL + "/api/orders/6b06f206db0ebb1c9087ba32")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusUnauthorized, res.StatusCode)

	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/api/orders", "method": "POST", "code": "201"})
	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/api/orders/{id}", "method": "GET", "code": "401"})
	rises(metrics.MongoCommands, prometheus.Labels{"collection": "orders"})
	rises(metrics.MongoCommands, prometheus.Labels{"collection": "tickets"})
	rises(metrics.BusPublished, prometheus.Labels{"subject": string(events.SubjectOrderCreated)})
	assert.True(t, metricstest.Scrape(t, url).Has(metrics.OutboxPending, prometheus.Labels{"collection": "orders"}))
}

// TestRun_SweepsAnOrderWhoseExpirationNeverCame runs the whole service with
// a one-second window and grace and no expiration service: the order is
// cancelled by the sweep, announced on the bus, and counted.
func TestRun_SweepsAnOrderWhoseExpirationNeverCame(t *testing.T) {
	t.Parallel()
	debugAddr := testkit.FreeAddr(t)
	s := startWith(t, nil, map[string]string{
		"DEBUG_ADDR":        debugAddr,
		"EXPIRATION_WINDOW": "1s",
		"EXPIRY_GRACE":      "1s",
	})
	url := "http://" + debugAddr + "/metrics"
	before := metricstest.Scrape(t, url)
	cancelled := testkit.Observe[events.OrderCancelled](t, s.nats)
	ticketID := "6b06f206db0ebb1c9087ba40"
	body := s.listAndOrder(t, ticketID, "6b06f206db0ebb1c9087ba41")

	e := testkit.Next(t, cancelled)
	assert.Equal(t, body.ID, e.ID)
	assert.Equal(t, ticketID, e.Ticket.ID)
	metricstest.EventuallyRises(t, url, before, 1, metrics.OrdersSwept, nil)
}
