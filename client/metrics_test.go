package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
)

// TestRun_ServesMetricsOnTheDebugAddress checks that the client counts its
// pages by route, and unknown paths under one label, as Prometheus scrapes
// them from DEBUG_ADDR.
func TestRun_ServesMetricsOnTheDebugAddress(t *testing.T) {
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[]`)
	}))
	defer apiSrv.Close()
	ports := freePorts(t, 2)
	port, debugAddr := ports[0], "127.0.0.1:"+ports[1]
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env(map[string]string{
			"PORT": port, "API_BASE_URL": apiSrv.URL, "LOG_LEVEL": "warn", "DEBUG_ADDR": debugAddr,
		}), io.Discard)
	}()
	defer func() {
		cancel()
		assert.NoError(t, <-done)
	}()
	base, url := "http://127.0.0.1:"+port, "http://"+debugAddr+"/metrics"
	get := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get("/readyz") == http.StatusOK }, 5*time.Second, 20*time.Millisecond)
	before := metricstest.Scrape(t, url)

	require.Equal(t, http.StatusOK, get("/"))
	require.Equal(t, http.StatusNotFound, get("/no/such/page"))

	metricstest.EventuallyRises(t, url, before, 1, metrics.HTTPRequests, prometheus.Labels{"route": "/", "method": "GET", "code": "200"})
	metricstest.EventuallyRises(t, url, before, 1, metrics.HTTPRequests, prometheus.Labels{"route": metrics.Unmatched, "method": "GET", "code": "404"})
}
