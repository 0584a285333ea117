package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/web"
	"ticketing.dev/infra/gateway"
	"ticketing.dev/infra/routes"
)

// TestGateway_RoutesByTheTable sends a request for every route of the table
// and checks the service that answered.
func TestGateway_RoutesByTheTable(t *testing.T) {
	upstreams := map[string]string{}
	for _, name := range routes.Services() {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Service", name)
			w.Header().Set("X-Got-Request-Id", r.Header.Get(web.RequestIDHeader))
			w.Header().Set(web.RequestIDHeader, r.Header.Get(web.RequestIDHeader))
			w.Header().Set("X-Got-Forwarded-For", r.Header.Get("X-Forwarded-For"))
			_, _ = io.WriteString(w, r.URL.Path)
		}))
		t.Cleanup(srv.Close)
		u, err := url.Parse(srv.URL)
		require.NoError(t, err)
		upstreams[name] = u.Host
	}
	gw := httptest.NewServer(gateway.New(upstreams, web.Nop))
	defer gw.Close()

	for path, want := range map[string]string{
		"/api/users/currentuser": "auth",
		"/api/tickets/abc":       "tickets",
		"/api/orders":            "orders",
		"/api/payments":          "payments",
		"/orders/123":            "client",
		"/":                      "client",
	} {
		resp, err := http.Get(gw.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, want, resp.Header.Get("X-Service"), path)
		assert.Equal(t, path, string(body), "the path reaches the service unchanged")
		assert.Len(t, resp.Header.Values(web.RequestIDHeader), 1, "one request id")
		assert.Equal(t, resp.Header.Get(web.RequestIDHeader), resp.Header.Get("X-Got-Request-Id"))
		assert.Equal(t, "127.0.0.1", resp.Header.Get("X-Got-Forwarded-For"))
	}
}

func TestGateway_DownServiceIs502InTheCommonShape(t *testing.T) {
	gw := httptest.NewServer(gateway.New(map[string]string{"auth": "127.0.0.1:1"}, web.Nop))
	defer gw.Close()
	resp, err := http.Get(gw.URL + "/api/users/currentuser")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.JSONEq(t, `{"errors":[{"message":"Service unavailable"}]}`, string(body))
}

func TestGateway_AppendsToTheForwardedChain(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Forwarded-For")
	}))
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	gw := httptest.NewServer(gateway.New(map[string]string{"auth": u.Host}, web.Nop))
	defer gw.Close()

	req, err := http.NewRequest(http.MethodGet, gw.URL+"/api/users/currentuser", nil)
	require.NoError(t, err)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "203.0.113.7, 127.0.0.1", <-got)
}
