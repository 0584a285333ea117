package main

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test's requests reach auth from 127.0.0.1, each on a connection, and
// so from a port, of its own. A client behind a trusted proxy is named by
// the X-Forwarded-For header the test sends as that proxy.

// startRateLimited runs auth with a limit of limit sign-ups and sign-ins a
// minute per client address, trusting the X-Forwarded-For of the peers in
// trusted ("" for none).
func startRateLimited(t *testing.T, limit int, trusted string) *service {
	t.Helper()
	return startServiceWith(t, testDeps(), map[string]string{
		"RATE_LIMIT":      fmt.Sprint(limit),
		"TRUSTED_PROXIES": trusted,
	})
}

// gateway is the local stack's gateway, the one proxy auth trusts there:
// the test's own address.
const gateway = "127.0.0.1/32"

func TestRateLimit_RefusesAttemptsOverTheLimit(t *testing.T) {
	s := startRateLimited(t, 3, gateway)
	// The test itself is the client; 203.0.113.8, behind it, another.
	const client, other = "", "203.0.113.8"
	attempt := func(path, forwardedFor string) int {
		return s.do(t, request{method: http.MethodPost, path: path, body: `{}`, forwardedFor: forwardedFor}).status
	}

	// Sign-up and sign-in draw on one budget, whatever port the client
	// connects from.
	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signup", client))
	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signin", client))
	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signup", client))

	r := s.do(t, request{method: http.MethodPost, path: "/api/users/signin", body: `{}`})
	require.Equal(t, http.StatusTooManyRequests, r.status)
	assert.JSONEq(t, errorBody("Too many requests, try again later"), r.body)
	assert.Equal(t, "20", r.header.Get("Retry-After"))
	assert.Equal(t, http.StatusTooManyRequests, attempt("/api/users/signup", client))

	assert.Equal(t, http.StatusBadRequest, attempt("/api/users/signup", other), "another address has its own budget")
	assert.Equal(t, http.StatusOK, s.do(t, request{method: http.MethodGet, path: "/api/users/currentuser"}).status)
	assert.Equal(t, http.StatusOK, s.do(t, request{method: http.MethodPost, path: "/api/users/signout"}).status)
}

func TestRateLimit_ZeroDisablesIt(t *testing.T) {
	s := startRateLimited(t, 0, "")
	for i := range 200 {
		r := s.do(t, request{method: http.MethodPost, path: "/api/users/signin", body: `{}`})
		require.Equal(t, http.StatusBadRequest, r.status, "attempt %d", i+1)
	}
}

func TestRateLimit_SpoofedForwardedForFromAnUntrustedPeerDoesNotChangeTheKey(t *testing.T) {
	// The gateway is elsewhere: the test is a peer auth does not trust.
	s := startRateLimited(t, 2, "192.0.2.1/32")
	attempt := func(i int) response {
		return s.do(t, request{method: http.MethodPost, path: "/api/users/signin", body: `{}`,
			forwardedFor: fmt.Sprintf("198.51.100.%d", i)})
	}

	assert.Equal(t, http.StatusBadRequest, attempt(1).status)
	assert.Equal(t, http.StatusBadRequest, attempt(2).status)
	r := attempt(3)

	assert.Equal(t, http.StatusTooManyRequests, r.status, "a new X-Forwarded-For each time is still one client")
	assertTooManyRequests(t, r)
}

func TestRateLimit_BehindTheGatewayEachClientHasItsOwnBudget(t *testing.T) {
	s := startRateLimited(t, 2, gateway)
	attempt := func(client string) int {
		return s.do(t, request{method: http.MethodPost, path: "/api/users/signup", body: `{}`, forwardedFor: client}).status
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
	s := startRateLimited(t, 2, "")
	attempt := func(client string) int {
		return s.do(t, request{method: http.MethodPost, path: "/api/users/signup", body: `{}`, forwardedFor: client}).status
	}

	assert.Equal(t, http.StatusBadRequest, attempt("203.0.113.7"))
	assert.Equal(t, http.StatusBadRequest, attempt("203.0.113.8"))
	assert.Equal(t, http.StatusTooManyRequests, attempt("203.0.113.9"), "TRUSTED_PROXIES defaults to trusting nobody")
}

// assertTooManyRequests checks a 429 as the API writes it: JSON in the
// common shape, with Retry-After.
func assertTooManyRequests(t *testing.T, r response) {
	t.Helper()
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	assert.JSONEq(t, errorBody("Too many requests, try again later"), r.body)
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", r.header.Get("Retry-After"))
	assert.Positive(t, retry)
	assert.Nil(t, r.sessionCookie())
}
