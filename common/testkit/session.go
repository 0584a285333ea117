package testkit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"ticketing.dev/common/session"
)

// JWTKey is the JWT_KEY of the services the tests start, as long as the
// services demand.
const JWTKey = "test-jwt-key-of-at-least-32-bytes"

// SignIn returns the session cookie auth would set for userID, signed with
// JWTKey and valid for an hour.
func SignIn(t testing.TB, userID string) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := session.NewManager([]byte(JWTKey), time.Hour, false).SignIn(rec, userID, userID+"@test.dev"); err != nil {
		t.Fatalf("testkit: sign in: %v", err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("testkit: sign in set %d cookies, want 1", len(cookies))
	}
	return cookies[0]
}
