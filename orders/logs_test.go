package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

// TestRun_LogsNoSecret runs the service at debug level through every route,
// failures and events included, with a known JWT_KEY and session, and looks
// for them in everything it logged.
func TestRun_LogsNoSecret(t *testing.T) {
	t.Parallel()
	key := "jwt-key-" + rand.Text()
	out := &testkit.Buffer{}
	s := startWith(t, out, map[string]string{"JWT_KEY": key})
	conn := testkit.Bus(t, s.nats)
	ticketID := "6b06f206db0ebb1c9087ba30"
	require.NoError(t, bus.NewPublisher[events.TicketCreated](conn).Publish(t.Context(),
		events.TicketCreated{ID: ticketID, Title: "concert", Price: 2500, UserID: "6b06f206db0ebb1c9087ba31"}))

	rec := httptest.NewRecorder()
	user := "6b06f206db0ebb1c9087ba32"
	require.NoError(t, session.NewManager([]byte(key), time.Hour, false).SignIn(rec, user, "logs@test.dev"))
	cookie := rec.Result().Cookies()[0]
	raw, err := base64.StdEncoding.DecodeString(cookie.Value)
	require.NoError(t, err)
	var wrapped struct{ JWT string }
	require.NoError(t, json.Unmarshal(raw, &wrapped))
	token := wrapped.JWT

	call := func(method, path, body string, c *http.Cookie) int {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(c)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	var placed int
	testkit.Eventually(t, func() bool {
		placed = call(http.MethodPost, "/api/orders", `{"ticketId":"`+ticketID+`"}`, cookie)
		return placed != http.StatusNotFound
	}, "ticket:created applied")
	require.Equal(t, http.StatusCreated, placed)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/orders", `{"ticketId":"`+token+`"}`, cookie))
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/api/orders?session="+token, "", cookie))
	assert.Equal(t, http.StatusNotFound, call(http.MethodDelete, "/api/orders/6b06f206db0ebb1c9087ba33", "", cookie))
	assert.Equal(t, http.StatusUnauthorized, call(http.MethodGet, "/api/orders", "", webtest.ForgedSessions(t, []byte(key), user)[0].Cookie))

	s.Stop()
	require.NoError(t, s.Wait(t, 30*time.Second))
	testkit.AssertSecretsNotLogged(t, out.String(), map[string]string{
		"JWT_KEY":        key,
		"session cookie": cookie.Value,
		"session token":  token,
	})
}
