package httpapi_test

import (
	"net/http"
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
