package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
)

// TestRun_ServesMetricsOnTheDebugAddress checks what the tickets service
// counts, as Prometheus scrapes it from DEBUG_ADDR: its requests by route,
// its MongoDB commands by collection, the events it publishes and handles,
// and its outbox's backlog.
func TestRun_ServesMetricsOnTheDebugAddress(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	e := testkit.ServiceEnv(testkit.MongoURI(t), n)
	e["DEBUG_ADDR"] = testkit.FreeAddr(t)
	s := startServiceOn(t, e, n)
	url := "http://" + e["DEBUG_ADDR"] + "/metrics"
	before := metricstest.Scrape(t, url)

	tk := s.create(t, testkit.SignIn(t, newUserID()), "concert", "20")
	assert.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/api/tickets/"+tk.ID, "", nil).status)
	assert.Equal(t, http.StatusNotFound, s.do(t, http.MethodGet, "/api/nothing/"+tk.ID, "", nil).status)
	publish(t, s, events.OrderCreated{
		ID: bson.NewObjectID().Hex(), Status: events.StatusCreated, UserID: newUserID(),
		ExpiresAt: events.NewTime(time.Now().Add(time.Minute)),
		Ticket:    events.OrderTicket{ID: tk.ID, Price: 2000},
	})

	rises := func(name string, labels prometheus.Labels) {
		t.Helper()
		metricstest.EventuallyRises(t, url, before, 1, name, labels)
	}
	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/api/tickets", "method": "POST", "code": "201"})
	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/api/tickets/{id}", "method": "GET", "code": "200"})
	rises(metrics.HTTPRequests, prometheus.Labels{"route": metrics.Unmatched, "method": "GET", "code": "404"})
	rises(metrics.HTTPRequestDuration, prometheus.Labels{"route": "/api/tickets", "method": "POST"})
	rises(metrics.MongoCommands, prometheus.Labels{"collection": "tickets", "command": "insert"})
	rises(metrics.BusPublished, prometheus.Labels{"subject": string(events.SubjectTicketCreated)})
	rises(metrics.BusHandled, prometheus.Labels{"subject": string(events.SubjectOrderCreated), "outcome": metrics.OutcomeAcked})
	rises(metrics.BusPublished, prometheus.Labels{"subject": string(events.SubjectTicketUpdated)})
	after := metricstest.Scrape(t, url)
	assert.True(t, after.Has(metrics.OutboxPending, prometheus.Labels{"collection": "tickets"}))
	assert.True(t, after.Has(metrics.OutboxOldestPendingAge, prometheus.Labels{"collection": "tickets"}))
	assert.Zero(t, after.Value(metrics.HTTPRequests, prometheus.Labels{"route": "/api/nothing/" + tk.ID}), "never a path as a route")
}
