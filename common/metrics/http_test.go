package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
)

// router is shaped like the services': routes of a subrouter mounted under
// a prefix, one of them behind a middleware that answers first, a wildcard
// route, and one that panics.
func router(t *testing.T, reg prometheus.Registerer) http.Handler {
	t.Helper()
	m, err := metrics.NewHTTP(reg)
	require.NoError(t, err)
	r := chi.NewRouter()
	r.Use(m.Middleware, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if recover() != nil {
					w.WriteHeader(http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	})
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }
	r.Get("/healthz", ok)
	r.Handle("/static/*", http.HandlerFunc(ok))
	r.Get("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	r.Route("/api/tickets", func(r chi.Router) {
		r.Get("/", ok)
		r.With(func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
		}).Put("/{id}", ok)
		r.Post("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
		r.Get("/{id}", ok)
	})
	return r
}

func TestHTTP_CountsRequestsByRoutePattern(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := router(t, reg)
	tests := []struct {
		method, path      string
		route, wantMethod string
		code              string
	}{
		{"GET", "/api/tickets/6b06f206db0ebb1c9087ba20", "/api/tickets/{id}", "GET", "200"},
		{"GET", "/api/tickets/6b06f206db0ebb1c9087ba21", "/api/tickets/{id}", "GET", "200"},
		{"POST", "/api/tickets", "/api/tickets", "POST", "201"},
		{"GET", "/api/tickets", "/api/tickets", "GET", "200"},
		{"GET", "/api/tickets/", "/api/tickets", "GET", "200"},
		{"GET", "/healthz", "/healthz", "GET", "200"},
		{"GET", "/static/app.css", "/static/*", "GET", "200"},
		{"GET", "/panic", "/panic", "GET", "500"},
		{"PUT", "/api/tickets/6b06f206db0ebb1c9087ba20", "/api/tickets/{id}", "PUT", "401"},
		// No route: not by path, which anyone may vary.
		{"GET", "/nothing/here", metrics.Unmatched, "GET", "404"},
		{"GET", "/api/tickets/a/b", metrics.Unmatched, "GET", "404"},
		{"DELETE", "/api/tickets", metrics.Unmatched, "DELETE", "405"},
		{"DELETE", "/api/tickets/", metrics.Unmatched, "DELETE", "405"},
		{"BREW", "/healthz", metrics.Unmatched, "OTHER", "405"},
	}
	for _, tt := range tests {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
	}

	s := metricstest.Gather(t, reg)
	for _, tt := range tests {
		labels := prometheus.Labels{"route": tt.route, "method": tt.wantMethod, "code": tt.code}
		assert.Positive(t, s.Value(metrics.HTTPRequests, labels), "%s %s: %v", tt.method, tt.path, labels)
	}
	assert.Equal(t, 2.0, s.Value(metrics.HTTPRequests, prometheus.Labels{"route": "/api/tickets/{id}", "method": "GET"}))
	assert.Equal(t, 5.0, s.Value(metrics.HTTPRequests, prometheus.Labels{"route": metrics.Unmatched}))
	assert.Equal(t, float64(len(tests)), s.Value(metrics.HTTPRequests, nil))
	assert.Equal(t, 2.0, s.Value(metrics.HTTPRequestDuration, prometheus.Labels{"route": "/api/tickets/{id}", "method": "GET"}),
		"one observation per request")
}

func TestHTTP_NilRecordsNothing(t *testing.T) {
	m, err := metrics.NewHTTP(nil)
	require.NoError(t, err)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()

	m.Middleware(next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))

	assert.Equal(t, http.StatusTeapot, rec.Code)
}
