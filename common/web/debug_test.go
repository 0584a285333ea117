package web_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/web"
)

func TestDebug_ServesProfilesUntilStopped(t *testing.T) {
	addr := freeAddr(t)
	var logs bytes.Buffer
	stop, err := web.Debug(addr, slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)

	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1"} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err, path)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	assert.Contains(t, logs.String(), addr)

	require.NoError(t, stop())
	_, err = http.Get("http://" + addr + "/debug/pprof/")
	assert.Error(t, err, "nothing listens once stopped")
}

func TestDebug_EmptyAddrServesNothing(t *testing.T) {
	stop, err := web.Debug("", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.NoError(t, stop())
}

func TestDebug_ReportsAnAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	_, err = web.Debug(ln.Addr().String(), slog.New(slog.DiscardHandler))

	assert.ErrorContains(t, err, "debug server")
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

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
