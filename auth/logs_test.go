package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
)

// TestRun_LogsNoSecret runs the service at debug level through every
// route, failures included, with a known JWT_KEY, passwords and session,
// and looks for them in everything it logged.
func TestRun_LogsNoSecret(t *testing.T) {
	jwtKey := "jwt-key-" + rand.Text()
	password := "Pw" + rand.Text()[:20]
	wrongPassword := "Wrong" + rand.Text()[:20]
	port := testkit.FreePort(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &testkit.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, envOf(map[string]string{
			"PORT":            port,
			"JWT_KEY":         jwtKey,
			"MONGO_URI":       testkit.MongoURI(t),
			"COOKIE_SECURE":   "false",
			"LOG_LEVEL":       "debug",
			"RATE_LIMIT":      "6",
			"TRUSTED_PROXIES": "127.0.0.1/32",
		}), out)
	}()
	base := "http://127.0.0.1:" + port
	testkit.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "auth ready")

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
	token := tokenOf(t, cookie)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signup", creds("logs@test.com", password), "").StatusCode)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signin", creds("logs@test.com", wrongPassword), "").StatusCode)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signin", creds("nobody@test.com", password), "").StatusCode)
	assert.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/api/users/signin", `{"email":"logs@test.com","password":"`+password, "").StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodPost, "/api/users/signin", creds("logs@test.com", password), "").StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/api/users/currentuser?token="+token, "", cookie).StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodGet, "/api/users/currentuser", "", cookie[:len(cookie)-4]+"AAA=").StatusCode)
	assert.Equal(t, http.StatusOK, call(http.MethodPost, "/api/users/signout", "", cookie).StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, call(http.MethodPost, "/api/users/signin", creds("logs@test.com", password), "").StatusCode)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
	}
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

// tokenOf returns the JWT inside a session cookie's value.
func tokenOf(t *testing.T, cookie string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(cookie)
	require.NoError(t, err)
	var s struct {
		JWT string `json:"jwt"`
	}
	require.NoError(t, json.Unmarshal(raw, &s))
	return s.JWT
}
