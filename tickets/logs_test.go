package main

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	n := testkit.NATS(t)
	e := testkit.ServiceEnv(testkit.MongoURI(t), n)
	e["JWT_KEY"] = key
	out := &testkit.Buffer{}
	s := startServiceOn(t, e, n, testkit.Stdout(out))

	rec := httptest.NewRecorder()
	user := newUserID()
	require.NoError(t, session.NewManager([]byte(key), time.Hour, false).SignIn(rec, user, "logs@test.dev"))
	cookie := rec.Result().Cookies()[0]
	token := webtest.TokenOf(t, cookie.Value)

	r := s.do(t, http.MethodPost, "/api/tickets", `{"title":"concert","price":10}`, cookie)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.ticket(t).ID
	assert.Equal(t, http.StatusOK, s.do(t, http.MethodPut, "/api/tickets/"+id, `{"title":"concert","price":12}`, cookie).status)
	assert.Equal(t, http.StatusBadRequest, s.do(t, http.MethodPut, "/api/tickets/"+id, `{"title":"`+token+`","price":"`+key+`"}`, cookie).status)
	assert.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/api/tickets/"+id+"?session="+token, "", cookie).status)
	assert.Equal(t, http.StatusOK, s.do(t, http.MethodGet, "/api/tickets", "", cookie).status)
	assert.Equal(t, http.StatusUnauthorized, s.do(t, http.MethodPost, "/api/tickets", `{"title":"x","price":1}`, webtest.ForgedSessions(t, []byte(key), user)[0].Cookie).status)
	reserve(t, s, id, newUserID())
	eventuallyPublished(t, s, id)

	s.Stop()
	require.NoError(t, s.Wait(t, 30*time.Second))
	testkit.AssertSecretsNotLogged(t, out.String(), map[string]string{
		"JWT_KEY":        key,
		"session cookie": cookie.Value,
		"session token":  token,
	})
}
