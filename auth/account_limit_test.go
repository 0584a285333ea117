package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/hashgate"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/testkit"
)

// startAccountLimited runs auth with a limit of failures failed sign-ins
// per account a quarter of an hour, by clock c (0 for none), behind the
// test as a trusted proxy, so that each sign-in names the client it comes
// from.
func startAccountLimited(t *testing.T, failures int, c *testkit.Clock) *service {
	t.Helper()
	d := testDeps()
	d.clock = c.Now
	return startServiceWith(t, d, map[string]string{
		"SIGNIN_FAILURE_LIMIT":  fmt.Sprint(failures),
		"SIGNIN_FAILURE_WINDOW": "15m",
		"TRUSTED_PROXIES":       "127.0.0.1/32",
	})
}

// signInFrom signs in from a client address of its own, as many clients
// would.
func (s *service) signInFrom(t *testing.T, addr int, email, password string) response {
	t.Helper()
	return s.do(t, request{method: http.MethodPost, path: "/api/users/signin", body: credentials(email, password),
		forwardedFor: fmt.Sprintf("198.51.100.%d", addr)})
}

const tooManyFailures = "Too many failed sign-ins for this account, try again later"

func TestSignIn_AnAccountOverItsFailuresIsRefusedFromEveryAddress(t *testing.T) {
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := startAccountLimited(t, 3, c)
	s.signUp(t, "victim@test.com", "right-password")
	s.signUp(t, "other@test.com", "right-password")

	for i := range 3 {
		r := s.signInFrom(t, i, "victim@test.com", "guess")
		require.Equal(t, http.StatusBadRequest, r.status, "guess %d", i+1)
	}
	r := s.signInFrom(t, 9, " Victim@Test.com ", "right-password")

	require.Equal(t, http.StatusTooManyRequests, r.status, "a fourth attempt, from a fourth address, with the right password")
	assert.JSONEq(t, errorBody(tooManyFailures), r.body)
	assert.Equal(t, "300", r.header.Get("Retry-After"), "3 a quarter of an hour: one every 5 minutes")
	assert.Nil(t, r.sessionCookie())
	assert.Equal(t, http.StatusOK, s.signInFrom(t, 9, "other@test.com", "right-password").status, "other accounts are not affected")

	c.Advance(5 * time.Minute)
	assert.Equal(t, http.StatusOK, s.signInFrom(t, 9, "victim@test.com", "right-password").status, "one attempt back after 5 minutes")
}

func TestSignIn_ASuccessClearsTheAccountsFailures(t *testing.T) {
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := startAccountLimited(t, 3, c)
	s.signUp(t, "me@test.com", "right-password")

	for range 2 {
		require.Equal(t, http.StatusBadRequest, s.signInFrom(t, 1, "me@test.com", "typo").status)
	}
	require.Equal(t, http.StatusOK, s.signInFrom(t, 1, "me@test.com", "right-password").status)

	for i := range 3 {
		assert.Equal(t, http.StatusBadRequest, s.signInFrom(t, 1, "me@test.com", "typo").status, "failure %d after the success", i+1)
	}
	assert.Equal(t, http.StatusTooManyRequests, s.signInFrom(t, 1, "me@test.com", "right-password").status)
}

func TestSignIn_UnknownEmailsAreLimitedAsKnownOnesAre(t *testing.T) {
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	s := startAccountLimited(t, 2, c)
	s.signUp(t, "known@test.com", "right-password")

	for _, email := range []string{"known@test.com", "unknown@test.com"} {
		assert.Equal(t, http.StatusBadRequest, s.signInFrom(t, 1, email, "guess").status, email)
		assert.Equal(t, http.StatusBadRequest, s.signInFrom(t, 2, email, "guess").status, email)
		r := s.signInFrom(t, 3, email, "guess")
		assert.Equal(t, http.StatusTooManyRequests, r.status, "%s: the answer tells nothing of which emails are registered", email)
		assert.JSONEq(t, errorBody(tooManyFailures), r.body, email)
	}
}

func TestSignIn_WithoutAnAccountLimitFailuresGoOn(t *testing.T) {
	s := startAccountLimited(t, 0, testkit.NewClock(time.Unix(1_700_000_000, 0)))
	s.signUp(t, "me@test.com", "right-password")
	for i := range 30 {
		require.Equal(t, http.StatusBadRequest, s.signInFrom(t, i, "me@test.com", "guess").status, "failure %d", i+1)
	}
	assert.Equal(t, http.StatusOK, s.signInFrom(t, 1, "me@test.com", "right-password").status)
}

func TestSignUpAndSignIn_AnswerBusyWhenNoTurnToHashComesInTime(t *testing.T) {
	gate := hashgate.New(1, time.Millisecond, time.Hour, func() {})
	d := testDeps()
	d.gate = func(*hashgate.Gate) user.Gate { return gate }
	busy := startServiceWith(t, d, nil)
	// The one turn is taken for the whole test: every wait runs out.
	leave, err := gate.Enter(context.Background())
	require.NoError(t, err)
	defer leave()

	for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
		r := busy.post(t, path, credentials("me@test.com", "right-password"))

		assert.Equal(t, http.StatusServiceUnavailable, r.status, path)
		assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"), path)
		assert.JSONEq(t, errorBody("Too many sign-ins at once, try again shortly"), r.body, path)
		assert.Equal(t, "2", r.header.Get("Retry-After"), path)
		assert.Nil(t, r.sessionCookie(), path)
	}
	assert.Empty(t, busy.users(t), "no user was stored")
}
