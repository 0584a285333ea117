package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
)

// TestRun_ServesMetricsOnTheDebugAddress checks what auth counts, as
// Prometheus scrapes it from DEBUG_ADDR: its requests by route, its
// MongoDB commands by collection, and the load of its scrypt gate.
func TestRun_ServesMetricsOnTheDebugAddress(t *testing.T) {
	debugAddr := testkit.FreeAddr(t)
	svc := testkit.StartService(t, run, testkit.ServiceEnv(testkit.MongoURI(t), nil, map[string]string{
		"JWT_KEY":    testJWTKey,
		"LOG_LEVEL":  "info",
		"DEBUG_ADDR": debugAddr,
	}))
	base, url := svc.URL, "http://"+debugAddr+"/metrics"
	before := metricstest.Scrape(t, url)

	post := func(path, body string) int {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusCreated, post("/api/users/signup", `{"email":"metrics@test.com","password":"password"}`))
	require.Equal(t, http.StatusBadRequest, post("/api/users/signin", `{"email":"metrics@test.com","password":"wrong"}`))

	rises := func(name string, labels prometheus.Labels) {
		t.Helper()
		metricstest.EventuallyRises(t, url, before, 1, name, labels)
	}
	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/api/users/signup", "method": "POST", "code": "201"})
	rises(metrics.HTTPRequests, prometheus.Labels{"route": "/api/users/signin", "method": "POST", "code": "400"})
	rises(metrics.MongoCommands, prometheus.Labels{"collection": "users", "command": "insert"})
	rises(metrics.MongoCommands, prometheus.Labels{"collection": "users", "command": "find"})
	after := metricstest.Scrape(t, url)
	assert.True(t, after.Has(metrics.ScryptGateWaiting, nil))
	assert.True(t, after.Has(metrics.ScryptGateRunning, nil))
	assert.Zero(t, after.Value(metrics.ScryptGateRunning, nil), "no hash runs once both are answered")
}
