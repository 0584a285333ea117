package main

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

// TestRun_LogsNoSecret runs the service at debug level through every
// route, failures included, with a known JWT_KEY, passwords and session,
// and looks for them in everything it logged.
func TestRun_LogsNoSecret(t *testing.T) {
	jwtKey := "jwt-key-" + rand.Text()
	password := "Pw" + rand.Text()[:20]
	wrongPassword := "Wrong" + rand.Text()[:20]
	out := &testkit.Buffer{}
	svc := testkit.StartService(t, run, testkit.ServiceEnv(testkit.MongoURI(t), nil, map[string]string{
		"JWT_KEY":         jwtKey,
		"RATE_LIMIT":      "6",
		"TRUSTED_PROXIES": "127.0.0.1/32",
	}), testkit.Stdout(out))
	base := svc.URL

	call := func(method, path, body, cookie string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+password) // headers are no log material either
		if cookie != "" {
			req.Header.Set("Cookie", "session="+cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	creds := func(email, pw string) string {
		b, _ := json.Marshal(map[string]string{"email": email, "password": pw})
		return string(b)
	}

	signup := call(http.MethodPost, "/api/users/signup", creds("logs@test.com", password), "")
	require.Equal(t, http.StatusCreated, signup.StatusCode)
	cookie := sessionValue(t, signup)
	token := webtest.TokenOf(t, cookie)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signup", creds("logs@test.com", password), "").StatusCode)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signin", creds("logs@test.com", wrongPassword), "").StatusCode)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signin", creds("nobody@test.com", password), "").StatusCode)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signin", `{"email":"logs@test.com","password":"`+password, "").StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodPost, "/api/users/signin", creds("logs@test.com", password), "").StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/api/users/currentuser?token="+token, "", cookie).StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/api/users/currentuser", "", cookie[:len(cookie)-4]+"AAA=").StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodPost, "/api/users/signout", "", cookie).StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, call(http.MethodPost, "/api/users/signin", creds("logs@test.com", password), "").StatusCode)

	require.NoError(t, svc.StopAndWait(t))
	testkit.AssertSecretsNotLogged(t, out.String(), map[string]string{
		"JWT_KEY":        jwtKey,
		"password":       password,
		"wrong password": wrongPassword,
		"session cookie": cookie,
		"session token":  token,
	})
}

// sessionValue returns the session cookie's value a response sets.
func sessionValue(t *testing.T, resp *http.Response) string {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}
