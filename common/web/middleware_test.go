package web_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/web"
)

// The metrics sit outside the panic recovery: a handler's panic counts as
// the 500 it is answered with.
func TestRouter_CountsAPanicAsThe500ItAnswers(t *testing.T) {
	reg := metrics.NewRegistry()
	m, err := metrics.NewHTTP(reg)
	require.NoError(t, err)
	r := web.NewRouter(web.Nop, web.WithMetrics(m))
	r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	rec := httptest.NewRecorder()

	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/panic", nil))

	require.Equal(t, http.StatusInternalServerError, rec.Code)
	s := metricstest.Gather(t, reg)
	assert.Equal(t, 1.0, s.Value(metrics.HTTPRequests, prometheus.Labels{"route": "/panic", "method": "GET", "code": "500"}))
}
