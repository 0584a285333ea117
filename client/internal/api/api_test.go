package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/client/internal/api"
	"ticketing.dev/common/events"
)

// newClient returns a client of an API stood in for by h.
func newClient(t *testing.T, h http.HandlerFunc) *api.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := api.New(srv.URL+"/", srv.Client())
	require.NoError(t, err)
	return c
}

var browser = api.Caller{Session: "abc123", Host: "ticketing.dev", RequestID: "req-1", ForwardedFor: "203.0.113.7, 10.0.0.2", Proto: "https"}

func TestClient_ForwardsTheBrowsersSessionHostAndRequestID(t *testing.T) {
	var got *http.Request
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		_, _ = io.WriteString(w, `[]`)
	})

	_, err := c.Tickets(t.Context(), browser, api.PageRequest{Limit: 50})
	require.NoError(t, err)

	assert.Equal(t, "/api/tickets", got.URL.Path)
	assert.Equal(t, "ticketing.dev", got.Host)
	assert.Equal(t, "req-1", got.Header.Get("X-Request-Id"))
	assert.Equal(t, "203.0.113.7, 10.0.0.2", got.Header.Get("X-Forwarded-For"))
	assert.Equal(t, "https", got.Header.Get("X-Forwarded-Proto"))
	cookie, err := got.Cookie("session")
	require.NoError(t, err)
	assert.Equal(t, "abc123", cookie.Value)
	assert.Len(t, got.Cookies(), 1, "only the session cookie travels")
}

func TestClient_SendsJSONAndDecodesMoneyAndTime(t *testing.T) {
	var body map[string]any
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"o1","userId":"u1","status":"created","expiresAt":"2030-01-02T03:04:05.678Z","version":0,
			"ticket":{"id":"t1","title":"Gig","price":10.99,"version":1}}`)
	})

	o, err := c.CreateOrder(t.Context(), browser, "t1")
	require.NoError(t, err)

	assert.Equal(t, map[string]any{"ticketId": "t1"}, body)
	assert.Equal(t, events.Money(1099), o.Ticket.Price)
	assert.Equal(t, events.StatusCreated, o.Status)
	assert.Equal(t, time.Date(2030, 1, 2, 3, 4, 5, 678e6, time.UTC), o.ExpiresAt.Time)
}

func TestClient_RefusalCarriesTheCommonErrorShape(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"errors":[{"message":"Email must be valid","field":"email"},{"message":"Email in use"}]}`)
	})

	_, err := c.SignUp(t.Context(), browser, "x", "password")

	apiErr, ok := errors.AsType[*api.Error](err)
	require.True(t, ok, "%T", err)
	assert.Equal(t, http.StatusBadRequest, apiErr.Status)
	assert.Equal(t, []api.Detail{{Message: "Email must be valid", Field: "email"}, {Message: "Email in use"}}, apiErr.Errors)
	assert.True(t, api.HasStatus(err, http.StatusBadRequest))
}

func TestClient_AnswerWithoutTheCommonShapeKeepsItsStatus(t *testing.T) {
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	})

	_, err := c.Ticket(t.Context(), browser, "t1")

	assert.True(t, api.HasStatus(err, http.StatusBadGateway))
	assert.Contains(t, err.Error(), "Bad Gateway")
}

func TestClient_SignInReturnsTheSessionCookieAsWritten(t *testing.T) {
	const cookie = "session=eyJqd3QiOiJ4In0=; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax"
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/api/users/signin", r.URL.Path)
		w.Header().Add("Set-Cookie", cookie)
		_, _ = io.WriteString(w, `{"id":"u1","email":"a@b.co"}`)
	})

	signed, err := c.SignIn(t.Context(), api.Caller{}, "a@b.co", "password")

	require.NoError(t, err)
	assert.Equal(t, api.User{ID: "u1", Email: "a@b.co"}, signed.User)
	assert.Equal(t, []string{cookie}, signed.SetCookie)
}

func TestClient_CurrentUserWithoutSessionAsksNothing(t *testing.T) {
	calls := 0
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		_, _ = io.WriteString(w, `{"currentUser":{"id":"u1","email":"a@b.co","iat":1}}`)
	})

	u, err := c.CurrentUser(t.Context(), api.Caller{})
	require.NoError(t, err)
	assert.Nil(t, u)
	assert.Zero(t, calls)

	u, err = c.CurrentUser(t.Context(), browser)
	require.NoError(t, err)
	assert.Equal(t, &api.User{ID: "u1", Email: "a@b.co"}, u)
	assert.Equal(t, 1, calls)
}

func TestClient_IDStaysOnePathSegment(t *testing.T) {
	var path string
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.EscapedPath()
		_, _ = io.WriteString(w, `{}`)
	})

	_, err := c.Order(t.Context(), browser, "../users/currentuser")

	require.NoError(t, err)
	assert.Equal(t, "/api/orders/..%2Fusers%2Fcurrentuser", path)
}

func TestClient_CallEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := c.Tickets(ctx, browser, api.PageRequest{Limit: 50})

	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestNew_RefusesABaseThatIsNoHTTPURL(t *testing.T) {
	for _, base := range []string{"", "ingress", "ftp://x", "http://", "://x"} {
		_, err := api.New(base, nil)
		assert.Error(t, err, "%q", base)
	}
}
