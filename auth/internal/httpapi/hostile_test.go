package httpapi_test

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
			a := newAPI(t)
			if path == "/api/users/signin" {
				a.signUp("test@test.com", "password")
			}
			before := testkit.Snapshot(t, a.db)
			for _, b := range webtest.HostileBodies(credentialFields) {
				t.Run(b.Name, func(t *testing.T) {
					w := a.post(path, b.Body)

					webtest.AssertErrorResponse(t, w.Code, w.Header(), w.Body.Bytes(), b.Status)
					assert.Nil(t, sessionCookie(w), "no session for a hostile body")
					assert.Equal(t, before, testkit.Snapshot(t, a.db), "nothing written")
				})
			}
			for _, h := range webtest.HostileHeaders(credentialFields) {
				t.Run(h.Name, func(t *testing.T) {
					w := a.do(request{method: http.MethodPost, path: path, body: h.Body, headers: &h})

					webtest.AssertErrorResponse(t, w.Code, w.Header(), w.Body.Bytes(), h.Status)
					assert.Nil(t, sessionCookie(w), "no session for a refused request")
					assert.Equal(t, before, testkit.Snapshot(t, a.db), "nothing written")
				})
			}
			// The same body without its hostile part is accepted.
			w := a.post(path, webtest.Object(credentialFields, nil))
			assert.Contains(t, []int{http.StatusCreated, http.StatusOK}, w.Code, w.Body.String())
		})
	}
}

// TestForgedSessions_SignNobodyIn: currentuser and signout never fail a
// request for its cookie; a forged one is simply no session.
func TestForgedSessions_SignNobodyIn(t *testing.T) {
	a := newAPI(t)
	id, valid := a.signUp("test@test.com", "password")
	require.Contains(t, a.currentUser(valid).Body.String(), id, "the genuine cookie works")
	before := testkit.Snapshot(t, a.db)

	for _, f := range webtest.ForgedSessions(t, jwtKey, id) {
		t.Run(f.Name, func(t *testing.T) {
			w := a.currentUser(f.Cookie)
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"currentUser":null}`, w.Body.String())

			w = a.do(request{method: http.MethodPost, path: "/api/users/signout", cookie: f.Cookie})
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{}`, w.Body.String())
			assert.True(t, strings.HasPrefix(w.Header().Get("Set-Cookie"), "session=;"), "cleared")

			w = a.do(request{method: http.MethodPost, path: "/api/users/signin", body: `{"email":"test@test.com"}`, cookie: f.Cookie})
			webtest.AssertErrorResponse(t, w.Code, w.Header(), w.Body.Bytes(), http.StatusBadRequest)
			assert.Equal(t, before, testkit.Snapshot(t, a.db), "nothing written")
		})
	}
}

// TestBodilessRoutes_IgnoreHostileBodies: signout and currentuser read no
// body, so none can make them fail or write.
func TestBodilessRoutes_IgnoreHostileBodies(t *testing.T) {
	a := newAPI(t)
	before := testkit.Snapshot(t, a.db)
	for _, b := range webtest.HostileBodies(credentialFields) {
		t.Run(b.Name, func(t *testing.T) {
			w := a.do(request{method: http.MethodGet, path: "/api/users/currentuser", body: b.Body})
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{"currentUser":null}`, w.Body.String())

			w = a.do(request{method: http.MethodPost, path: "/api/users/signout", body: b.Body})
			assert.Equal(t, http.StatusOK, w.Code)
			assert.JSONEq(t, `{}`, w.Body.String())
			assert.Equal(t, before, testkit.Snapshot(t, a.db), "nothing written")
		})
	}
}

// TestSignIn_FromTheSameOriginOrNoBrowserSignsIn: the checks that refuse
// other sites' forms let the app's own pages, JSON with a charset, and
// callers that are no browser (curl, the client service) through.
func TestSignIn_FromTheSameOriginOrNoBrowserSignsIn(t *testing.T) {
	a := newAPI(t)
	id, _ := a.signUp("test@test.com", "password")
	for _, h := range []webtest.Headers{
		{Name: "same origin", Header: http.Header{"Content-Type": {"application/json"}, "Origin": {"http://example.com"}, "Sec-Fetch-Site": {"same-origin"}}},
		{Name: "a charset", Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}},
		{Name: "no browser headers", Header: http.Header{"Content-Type": {"application/json"}}},
	} {
		t.Run(h.Name, func(t *testing.T) {
			w := a.do(request{method: http.MethodPost, path: "/api/users/signin", body: credentials("test@test.com", "password"), headers: &h})

			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			c := sessionCookie(w)
			require.NotNil(t, c, "signed in")
			assert.Contains(t, a.currentUser(c).Body.String(), id)
		})
	}
}

// TestCrossSiteReads_AreAnswered: only unsafe requests are refused for
// their origin; another site may still read who is signed in, as the
// browser's CORS rules, not the API, keep it from seeing the answer.
func TestCrossSiteReads_AreAnswered(t *testing.T) {
	a := newAPI(t)
	id, c := a.signUp("test@test.com", "password")
	h := webtest.Headers{Header: webtest.CrossSite()}

	w := a.do(request{method: http.MethodGet, path: "/api/users/currentuser", cookie: c, headers: &h})

	assert.Equal(t, http.StatusOK, w.Code)
	assert.Contains(t, w.Body.String(), id)
}

// TestCrossSiteSignOut_IsRefused: signing a visitor out takes no body, but
// is an unsafe request all the same.
func TestCrossSiteSignOut_IsRefused(t *testing.T) {
	a := newAPI(t)
	_, c := a.signUp("test@test.com", "password")
	h := webtest.Headers{Header: webtest.CrossSite()}

	w := a.do(request{method: http.MethodPost, path: "/api/users/signout", cookie: c, headers: &h})

	webtest.AssertErrorResponse(t, w.Code, w.Header(), w.Body.Bytes(), http.StatusForbidden)
	assert.Empty(t, w.Header().Values("Set-Cookie"), "the session is not cleared")
}
