package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRateLimit_RefusesAttemptsOverTheLimit(t *testing.T) {
	a := newAPI(t, apiConfig{rateLimit: 3, params: cheap})
	const client, other = "203.0.113.7:41000", "203.0.113.8:41000"
	attempt := func(path, from string) int {
		return a.do(request{method: http.MethodPost, path: path, body: `{}`, from: from}).Code
	}

	// Sign-up and sign-in draw on one budget.
	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signup", client))
	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signin", client))
	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signup", "203.0.113.7:41001"))

	w := a.do(request{method: http.MethodPost, path: "/api/users/signin", body: `{}`, from: client})
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.JSONEq(t, errorBody("Too many requests, try again later"), w.Body.String())
	assert.Equal(t, "20", w.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusTooManyRequests, attempt("/api/users/signup", client))

	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signup", other), "another address has its own budget")
	assert.Equal(t, http.StatusOK, a.do(request{method: http.MethodGet, path: "/api/users/currentuser", from: client}).Code)
	assert.Equal(t, http.StatusOK, a.do(request{method: http.MethodPost, path: "/api/users/signout", from: client}).Code)
}

func TestRateLimit_ZeroDisablesIt(t *testing.T) {
	a := newAPI(t, apiConfig{rateLimit: 0, params: cheap})
	for i := range 200 {
		w := a.do(request{method: http.MethodPost, path: "/api/users/signin", body: `{}`, from: "203.0.113.7:41000"})
		require.Equal(t, http.StatusBadRequest, w.Code, "attempt %d", i+1)
	}
}

// gateway is the local stack's gateway, the one proxy auth trusts there.
var gateway = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func TestRateLimit_SpoofedForwardedForFromAnUntrustedPeerDoesNotChangeTheKey(t *testing.T) {
	a := newAPI(t, apiConfig{rateLimit: 2, params: cheap, trusted: gateway})
	attempt := func(i int) *httptest.ResponseRecorder {
		return a.do(request{method: http.MethodPost, path: "/api/users/signin", body: `{}`,
			from: "203.0.113.7:41000", forwardedFor: fmt.Sprintf("198.51.100.%d", i)})
	}

	assert.Equal(t, http.StatusBadRequest, attempt(1).Code)
	assert.Equal(t, http.StatusBadRequest, attempt(2).Code)
	w := attempt(3)

	assert.Equal(t, http.StatusTooManyRequests, w.Code, "a new X-Forwarded-For each time is still one client")
	assertTooManyRequests(t, w)
}

func TestRateLimit_BehindTheGatewayEachClientHasItsOwnBudget(t *testing.T) {
	a := newAPI(t, apiConfig{rateLimit: 2, params: cheap, trusted: gateway})
	attempt := func(client string) int {
		return a.do(request{method: http.MethodPost, path: "/api/users/signup", body: `{}`,
			from: "127.0.0.1:50000", forwardedFor: client}).Code
	}

	assert.Equal(t, http.StatusBadRequest, attempt("203.0.113.7"))
	assert.Equal(t, http.StatusBadRequest, attempt("203.0.113.7"))
	assert.Equal(t, http.StatusTooManyRequests, attempt("203.0.113.7"))
	assert.Equal(t, http.StatusTooManyRequests, attempt("198.51.100.1, 203.0.113.7"), "entries the client wrote are not read")

	assert.Equal(t, http.StatusBadRequest, attempt("203.0.113.8"), "another client behind the gateway has its own budget")
	assert.Equal(t, http.StatusBadRequest, attempt("2001:db8:1:2::1"))
	assert.Equal(t, http.StatusBadRequest, attempt("2001:db8:1:2::2"))
	assert.Equal(t, http.StatusTooManyRequests, attempt("2001:db8:1:2::3"), "one IPv6 /64 is one client")
}

func TestRateLimit_WithoutTrustedProxiesTheGatewayIsOneClient(t *testing.T) {
	a := newAPI(t, apiConfig{rateLimit: 2, params: cheap})
	attempt := func(client string) int {
		return a.do(request{method: http.MethodPost, path: "/api/users/signup", body: `{}`,
			from: "127.0.0.1:50000", forwardedFor: client}).Code
	}

	assert.Equal(t, http.StatusBadRequest, attempt("203.0.113.7"))
	assert.Equal(t, http.StatusBadRequest, attempt("203.0.113.8"))
	assert.Equal(t, http.StatusTooManyRequests, attempt("203.0.113.9"), "TRUSTED_PROXIES defaults to trusting nobody")
}

// assertTooManyRequests checks a 429 as the API writes it: JSON in the
// common shape, with Retry-After.
func assertTooManyRequests(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	assert.JSONEq(t, errorBody("Too many requests, try again later"), w.Body.String())
	retry, err := strconv.Atoi(w.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", w.Header().Get("Retry-After"))
	assert.Positive(t, retry)
	assert.Nil(t, sessionCookie(w))
}
