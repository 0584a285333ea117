package web_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

func TestPprof_ServesProfilesUntilStopped(t *testing.T) {
	addr := testkit.FreeAddr(t)
	var logs bytes.Buffer
	stop, err := web.Pprof(addr, slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)

	for _, path := range pprofPaths {
		assert.Equal(t, http.StatusOK, status(t, "http://"+addr+path), path)
	}
	assert.Equal(t, http.StatusNotFound, status(t, "http://"+addr+"/metrics"), "metrics stay on DEBUG_ADDR")
	assert.Contains(t, logs.String(), addr)

	require.NoError(t, stop())
	_, err = http.Get("http://" + addr + "/debug/pprof/")
	assert.Error(t, err, "nothing listens once stopped")
}

// TestDebug_ServesNoProfiles: whatever may scrape the metrics, such as
// Prometheus in the cluster, cannot take profiles from the same listener;
// they are served only on PPROF_ADDR, when it is set.
func TestDebug_ServesNoProfiles(t *testing.T) {
	addr := testkit.FreeAddr(t)
	stop, err := web.Debug(addr, metrics.NewRegistry(), web.Nop)
	require.NoError(t, err)
	defer func() { assert.NoError(t, stop()) }()

	assert.Equal(t, http.StatusOK, status(t, "http://"+addr+"/metrics"))
	for _, path := range pprofPaths {
		assert.Equal(t, http.StatusNotFound, status(t, "http://"+addr+path), path)
	}
}

func TestDebug_ServesUntilStopped(t *testing.T) {
	addr := testkit.FreeAddr(t)
	var logs bytes.Buffer
	stop, err := web.Debug(addr, metrics.NewRegistry(), slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)
	assert.Contains(t, logs.String(), addr)

	require.NoError(t, stop())
	_, err = http.Get("http://" + addr + "/metrics")
	assert.Error(t, err, "nothing listens once stopped")
}

// pprofPaths are some of the profiles net/http/pprof serves.
var pprofPaths = []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/symbol"}

func status(t *testing.T, url string) int {
	t.Helper()
	r, err := webtest.Send(nil, http.MethodGet, url, "", nil, nil)
	require.NoError(t, err, url)
	return r.Status
}

func TestDebug_ServesTheRegistrysMetrics(t *testing.T) {
	addr := testkit.FreeAddr(t)
	reg := metrics.NewRegistry()
	m, err := metrics.NewHTTP(reg)
	require.NoError(t, err)
	r := web.NewRouter(web.Nop, web.WithMetrics(m))
	web.Health(r, nil)
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
	stop, err := web.Debug(addr, reg, web.Nop)
	require.NoError(t, err)
	defer func() { assert.NoError(t, stop()) }()

	s := metricstest.Scrape(t, "http://"+addr+"/metrics")

	assert.Equal(t, 1.0, s.Value(metrics.HTTPRequests, prometheus.Labels{"route": "/healthz", "method": "GET", "code": "200"}))
	assert.Contains(t, s, "go_goroutines", "the Go runtime's metrics")
	assert.Contains(t, s, "process_resident_memory_bytes", "the process's metrics")
}

func TestDebug_WithoutARegistryServesNoMetrics(t *testing.T) {
	addr := testkit.FreeAddr(t)
	stop, err := web.Debug(addr, nil, web.Nop)
	require.NoError(t, err)
	defer func() { assert.NoError(t, stop()) }()

	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestDebug_EmptyAddrServesNothing(t *testing.T) {
	stop, err := web.Debug("", metrics.NewRegistry(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.NoError(t, stop())
	stop, err = web.Pprof("", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.NoError(t, stop())
}

func TestDebug_ReportsAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	_, err = web.Debug(ln.Addr().String(), nil, slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "debug server")
	_, err = web.Pprof(ln.Addr().String(), slog.New(slog.DiscardHandler))
	assert.ErrorContains(t, err, "pprof server")
}

func TestDebug_ProfilesStayOffTheServiceRouter(t *testing.T) {
	// net/http/pprof is linked in and has registered itself on
	// http.DefaultServeMux; a service's router must not answer for it.
	r := web.NewRouter(slog.New(slog.DiscardHandler))
	web.Health(r, nil)
	rec := httptest.NewRecorder()

	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))

	assert.Equal(t, http.StatusNotFound, rec.Code)
}
