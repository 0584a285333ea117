package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/auth/internal/hashgate"
	"ticketing.dev/common/testkit"
)

// signInFrom signs in from its own address, as many clients would.
func (a *api) signInFrom(addr int, email, password string) *httptest.ResponseRecorder {
	return a.do(request{method: http.MethodPost, path: "/api/users/signin", body: credentials(email, password),
		from: fmt.Sprintf("198.51.100.%d:40000", addr)})
}

const tooManyFailures = "Too many failed sign-ins for this account, try again later"

func TestSignIn_AnAccountOverItsFailuresIsRefusedFromEveryAddress(t *testing.T) {
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := newAPI(t, apiConfig{params: cheap, signInFailures: 3, failureWindow: 15 * time.Minute, now: c.Now})
	a.signUp("victim@test.com", "right-password")
	a.signUp("other@test.com", "right-password")

	for i := range 3 {
		w := a.signInFrom(i, "victim@test.com", "guess")
		require.Equal(t, http.StatusBadRequest, w.Code, "guess %d", i+1)
	}
	w := a.signInFrom(9, " Victim@Test.com ", "right-password")

	require.Equal(t, http.StatusTooManyRequests, w.Code, "a fourth attempt, from a fourth address, with the right password")
	assert.JSONEq(t, errorBody(tooManyFailures), w.Body.String())
	assert.Equal(t, "300", w.Header().Get("Retry-After"), "3 a quarter of an hour: one every 5 minutes")
	assert.Nil(t, sessionCookie(w))
	assert.Equal(t, http.StatusOK, a.signInFrom(9, "other@test.com", "right-password").Code, "other accounts are not affected")

	c.Advance(5 * time.Minute)
	assert.Equal(t, http.StatusOK, a.signInFrom(9, "victim@test.com", "right-password").Code, "one attempt back after 5 minutes")
}

func TestSignIn_ASuccessClearsTheAccountsFailures(t *testing.T) {
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := newAPI(t, apiConfig{params: cheap, signInFailures: 3, failureWindow: 15 * time.Minute, now: c.Now})
	a.signUp("me@test.com", "right-password")

	for range 2 {
		require.Equal(t, http.StatusBadRequest, a.signInFrom(1, "me@test.com", "typo").Code)
	}
	require.Equal(t, http.StatusOK, a.signInFrom(1, "me@test.com", "right-password").Code)

	for i := range 3 {
		assert.Equal(t, http.StatusBadRequest, a.signInFrom(1, "me@test.com", "typo").Code, "failure %d after the success", i+1)
	}
	assert.Equal(t, http.StatusTooManyRequests, a.signInFrom(1, "me@test.com", "right-password").Code)
}

func TestSignIn_UnknownEmailsAreLimitedAsKnownOnesAre(t *testing.T) {
	c := testkit.NewClock(time.Unix(1_700_000_000, 0))
	a := newAPI(t, apiConfig{params: cheap, signInFailures: 2, failureWindow: 15 * time.Minute, now: c.Now})
	a.signUp("known@test.com", "right-password")

	for _, email := range []string{"known@test.com", "unknown@test.com"} {
		assert.Equal(t, http.StatusBadRequest, a.signInFrom(1, email, "guess").Code, email)
		assert.Equal(t, http.StatusBadRequest, a.signInFrom(2, email, "guess").Code, email)
		w := a.signInFrom(3, email, "guess")
		assert.Equal(t, http.StatusTooManyRequests, w.Code, "%s: the answer tells nothing of which emails are registered", email)
		assert.JSONEq(t, errorBody(tooManyFailures), w.Body.String(), email)
	}
}

func TestSignIn_WithoutAnAccountLimitFailuresGoOn(t *testing.T) {
	a := newAPI(t, apiConfig{params: cheap})
	a.signUp("me@test.com", "right-password")
	for i := range 30 {
		require.Equal(t, http.StatusBadRequest, a.signInFrom(i, "me@test.com", "guess").Code, "failure %d", i+1)
	}
	assert.Equal(t, http.StatusOK, a.signInFrom(1, "me@test.com", "right-password").Code)
}

func TestSignUpAndSignIn_AnswerBusyWhenNoTurnToHashComesInTime(t *testing.T) {
	gate := hashgate.New(1, time.Millisecond, time.Hour, func() {})
	busy := newAPI(t, apiConfig{params: cheap, gate: gate})
	// The one turn is taken for the whole test: every wait runs out.
	leave, err := gate.Enter(context.Background())
	require.NoError(t, err)
	defer leave()

	for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
		w := busy.post(path, credentials("me@test.com", "right-password"))

		assert.Equal(t, http.StatusServiceUnavailable, w.Code, path)
		assert.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"), path)
		assert.JSONEq(t, errorBody("Too many sign-ins at once, try again shortly"), w.Body.String(), path)
		assert.Equal(t, "2", w.Header().Get("Retry-After"), path)
		assert.Nil(t, sessionCookie(w), path)
	}
	assert.Empty(t, busy.users(), "no user was stored")
}
