package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

var credentialFields = []webtest.Field{
	{Name: "email", Valid: `"test@test.com"`},
	{Name: "password", Valid: `"password"`},
}

// TestHostileBodies_AreClientErrorsAndWriteNothing sends sign-up and
// sign-in every hostile body, and the valid body in other formats or from
// another site's page: each is otherwise the valid body of test@test.com,
// who does not exist for sign-up and does for sign-in, so that the hostile
// part alone is refused.
func TestHostileBodies_AreClientErrorsAndWriteNothing(t *testing.T) {
	for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
		t.Run(path, func(t *testing.T) {
			s := startService(t)
			if path == "/api/users/signin" {
				s.signUp(t, "test@test.com", "password")
			}
			before := testkit.Snapshot(t, s.db)
			for _, b := range webtest.HostileBodies(credentialFields) {
				t.Run(b.Name, func(t *testing.T) {
					r := s.post(t, path, b.Body)

					webtest.AssertErrorResponse(t, r.status, r.header, []byte(r.body), b.Status)
					assert.Nil(t, r.sessionCookie(), "no session for a hostile body")
					assert.Equal(t, before, testkit.Snapshot(t, s.db), "nothing written")
				})
			}
			for _, h := range webtest.HostileHeaders(credentialFields) {
				t.Run(h.Name, func(t *testing.T) {
					r := s.do(t, request{method: http.MethodPost, path: path, body: h.Body, headers: &h})

					webtest.AssertErrorResponse(t, r.status, r.header, []byte(r.body), h.Status)
					assert.Nil(t, r.sessionCookie(), "no session for a refused request")
					assert.Equal(t, before, testkit.Snapshot(t, s.db), "nothing written")
				})
			}
			// The same body without its hostile part is accepted.
			r := s.post(t, path, webtest.Object(credentialFields, nil))
			assert.Contains(t, []int{http.StatusCreated, http.StatusOK}, r.status, r.body)
		})
	}
}

// TestForgedSessions_SignNobodyIn: currentuser and signout never fail a
// request for its cookie; a forged one is simply no session.
func TestForgedSessions_SignNobodyIn(t *testing.T) {
	s := startService(t)
	id, valid := s.signUp(t, "test@test.com", "password")
	require.Contains(t, s.currentUser(t, valid).body, id, "the genuine cookie works")
	before := testkit.Snapshot(t, s.db)

	for _, f := range webtest.ForgedSessions(t, jwtKey, id) {
		t.Run(f.Name, func(t *testing.T) {
			r := s.currentUser(t, f.Cookie)
			assert.Equal(t, http.StatusOK, r.status)
			assert.JSONEq(t, `{"currentUser":null}`, r.body)

			r = s.do(t, request{method: http.MethodPost, path: "/api/users/signout", cookie: f.Cookie})
			assert.Equal(t, http.StatusOK, r.status)
			assert.JSONEq(t, `{}`, r.body)
			assert.True(t, strings.HasPrefix(r.header.Get("Set-Cookie"), "session=;"), "cleared")

			r = s.do(t, request{method: http.MethodPost, path: "/api/users/signin", body: `{"email":"test@test.com"}`, cookie: f.Cookie})
			webtest.AssertErrorResponse(t, r.status, r.header, []byte(r.body), http.StatusBadRequest)
			assert.Equal(t, before, testkit.Snapshot(t, s.db), "nothing written")
		})
	}
}

// TestBodilessRoutes_IgnoreHostileBodies: signout and currentuser read no
// body, so none can make them fail or write.
func TestBodilessRoutes_IgnoreHostileBodies(t *testing.T) {
	s := startService(t)
	before := testkit.Snapshot(t, s.db)
	// A route that reads no body answers before it has all arrived, and
	// the server then closes the connection rather than read a large body
	// to its end: a client still sending it may fail its write before it
	// reads the answer. Asking to continue first has a body sent only as
	// far as the service reads it, here not at all.
	h := webtest.Headers{Header: http.Header{"Content-Type": {"application/json"}, "Expect": {"100-continue"}}}
	for _, b := range webtest.HostileBodies(credentialFields) {
		t.Run(b.Name, func(t *testing.T) {
			r := s.do(t, request{method: http.MethodGet, path: "/api/users/currentuser", body: b.Body, headers: &h})
			assert.Equal(t, http.StatusOK, r.status)
			assert.JSONEq(t, `{"currentUser":null}`, r.body)

			r = s.do(t, request{method: http.MethodPost, path: "/api/users/signout", body: b.Body, headers: &h})
			assert.Equal(t, http.StatusOK, r.status)
			assert.JSONEq(t, `{}`, r.body)
			assert.Equal(t, before, testkit.Snapshot(t, s.db), "nothing written")
		})
	}
}

// TestSignIn_FromTheSameOriginOrNoBrowserSignsIn: the checks that refuse
// other sites' forms let the app's own pages, JSON with a charset, and
// callers that are no browser (curl, the client service) through.
func TestSignIn_FromTheSameOriginOrNoBrowserSignsIn(t *testing.T) {
	s := startService(t)
	id, _ := s.signUp(t, "test@test.com", "password")
	for _, h := range []webtest.Headers{
		{Name: "same origin", Header: http.Header{"Content-Type": {"application/json"}, "Origin": {"http://example.com"}, "Sec-Fetch-Site": {"same-origin"}}},
		{Name: "a charset", Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}},
		{Name: "no browser headers", Header: http.Header{"Content-Type": {"application/json"}}},
	} {
		t.Run(h.Name, func(t *testing.T) {
			r := s.do(t, request{method: http.MethodPost, path: "/api/users/signin", body: credentials("test@test.com", "password"), headers: &h})

			require.Equal(t, http.StatusOK, r.status, r.body)
			c := r.sessionCookie()
			require.NotNil(t, c, "signed in")
			assert.Contains(t, s.currentUser(t, c).body, id)
		})
	}
}

// TestCrossSiteReads_AreAnswered: only unsafe requests are refused for
// their origin; another site may still read who is signed in, as the
// browser's CORS rules, not the API, keep it from seeing the answer.
func TestCrossSiteReads_AreAnswered(t *testing.T) {
	s := startService(t)
	id, c := s.signUp(t, "test@test.com", "password")
	h := webtest.Headers{Header: webtest.CrossSite()}

	r := s.do(t, request{method: http.MethodGet, path: "/api/users/currentuser", cookie: c, headers: &h})

	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, id)
}

// TestCrossSiteSignOut_IsRefused: signing a visitor out takes no body, but
// is an unsafe request all the same.
func TestCrossSiteSignOut_IsRefused(t *testing.T) {
	s := startService(t)
	_, c := s.signUp(t, "test@test.com", "password")
	h := webtest.Headers{Header: webtest.CrossSite()}

	r := s.do(t, request{method: http.MethodPost, path: "/api/users/signout", cookie: c, headers: &h})

	webtest.AssertErrorResponse(t, r.status, r.header, []byte(r.body), http.StatusForbidden)
	assert.Empty(t, r.header.Values("Set-Cookie"), "the session is not cleared")
}
