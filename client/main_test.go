package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRun_NamesAMissingAPIBaseURL(t *testing.T) {
	err := run(t.Context(), env(nil), io.Discard)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "API_BASE_URL must be defined")
}

func TestRun_RefusesASecretStripeKey(t *testing.T) {
	for _, key := range []string{"sk_live_x", "rk_test_x"} {
		err := run(t.Context(), env(map[string]string{"API_BASE_URL": "http://api", "STRIPE_PUBLISHABLE_KEY": key}), io.Discard)

		require.Error(t, err, key)
		assert.Contains(t, err.Error(), "STRIPE_PUBLISHABLE_KEY must be the publishable key", key)
	}
}

func TestRun_RefusesAPageSizeTheAPICannotServe(t *testing.T) {
	for _, size := range []string{"0", "-1", "fifty", "1001"} {
		err := run(t.Context(), env(map[string]string{"API_BASE_URL": "http://api", "PAGE_SIZE": size}), io.Discard)

		require.Error(t, err, size)
		assert.Contains(t, err.Error(), "PAGE_SIZE", size)
	}
}

func TestRun_RefusesAnAPIBaseThatIsNoURL(t *testing.T) {
	err := run(t.Context(), env(map[string]string{"API_BASE_URL": "ingress-nginx"}), io.Discard)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "API_BASE_URL")
}

func TestRun_RefusesTrustedProxiesThatAreNoAddresses(t *testing.T) {
	err := run(t.Context(), env(map[string]string{"API_BASE_URL": "http://api", "TRUSTED_PROXIES": "ingress-nginx"}), io.Discard)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "TRUSTED_PROXIES")
}

func TestRun_ServesPagesUntilStopped(t *testing.T) {
	var query string
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"id":"6b06fc3abc0b433688739133","title":"Concert","price":20.5,"userId":"u","version":0}]`)
	}))
	defer apiSrv.Close()
	port := freePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env(map[string]string{"PORT": port, "API_BASE_URL": apiSrv.URL, "LOG_LEVEL": "warn", "PAGE_SIZE": "20"}), io.Discard)
	}()

	base := "http://127.0.0.1:" + port
	var resp *http.Response
	require.Eventually(t, func() bool {
		var err error
		resp, err = http.Get(base + "/readyz")
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	resp, err := http.Get(base + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "$20.50")
	assert.Equal(t, "limit=20", query, "the API is asked for pages of PAGE_SIZE")

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	return freePorts(t, 1)[0]
}

// freePorts returns n distinct ports that were free a moment ago: each is
// held until all are found, or the kernel could hand out one twice.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	ports := make([]string, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		ports[i] = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
