package webtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Forged is a session cookie that must not sign anyone in.
type Forged struct {
	Name   string
	Cookie *http.Cookie
}

// ForgedSessions returns session cookies naming userID that a service
// holding key must treat as no session at all: tokens signed with no
// algorithm, another algorithm or another key, expired or without expiry,
// tampered with, for a user id that auth never issues, and cookies that
// hold no token. Only userID's own correctly signed token, which
// SessionCookie writes, is valid.
func ForgedSessions(t testing.TB, key []byte, userID string) []Forged {
	t.Helper()
	now := time.Now()
	claims := func(id any, iat, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"id": id, "email": "forged@test.dev", "iat": iat.Unix(), "exp": exp.Unix()}
	}
	valid := claims(userID, now, now.Add(time.Hour))
	sign := func(m jwt.SigningMethod, k any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(k)
		if err != nil {
			t.Fatalf("webtest: sign: %v", err)
		}
		return s
	}
	good := sign(jwt.SigningMethodHS256, key, valid)
	parts := strings.Split(good, ".")
	otherPayload := strings.Split(sign(jwt.SigningMethodHS256, key, claims("507f191e810c19729de860ea", now, now.Add(time.Hour))), ".")[1]
	cookies := []struct{ name, value string }{
		{"alg none", CookieValue(sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid))},
		{"alg none without a signature", CookieValue(strings.TrimSuffix(sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), "."))},
		{"alg HS512 with the key", CookieValue(sign(jwt.SigningMethodHS512, key, valid))},
		{"alg HS384 with the key", CookieValue(sign(jwt.SigningMethodHS384, key, valid))},
		{"HS256 with another key", CookieValue(sign(jwt.SigningMethodHS256, []byte("not-the-key"), valid))},
		{"HS256 with an empty key", CookieValue(sign(jwt.SigningMethodHS256, []byte{}, valid))},
		{"expired", CookieValue(sign(jwt.SigningMethodHS256, key, claims(userID, now.Add(-2*time.Hour), now.Add(-time.Hour))))},
		{"without expiry", CookieValue(sign(jwt.SigningMethodHS256, key, jwt.MapClaims{"id": userID, "iat": now.Unix()}))},
		{"issued in the future", CookieValue(sign(jwt.SigningMethodHS256, key, claims(userID, now.Add(time.Hour), now.Add(2*time.Hour))))},
		{"another user's payload under this signature", CookieValue(parts[0] + "." + otherPayload + "." + parts[2])},
		{"signature stripped", CookieValue(parts[0] + "." + parts[1] + ".")},
		{"a user id that is not an ObjectId", CookieValue(sign(jwt.SigningMethodHS256, key, claims("admin", now, now.Add(time.Hour))))},
		{"a user id in upper case", CookieValue(sign(jwt.SigningMethodHS256, key, claims(strings.ToUpper(userID), now, now.Add(time.Hour))))},
		{"an operator object for the user id", CookieValue(sign(jwt.SigningMethodHS256, key, claims(map[string]any{"$ne": nil}, now, now.Add(time.Hour))))},
		{"garbage base64", "!!!not*base64!!!"},
		{"base64 of no JSON", base64.StdEncoding.EncodeToString([]byte("nope"))},
		{"JSON without a token", base64.StdEncoding.EncodeToString([]byte(`{"user":"` + userID + `"}`))},
		{"a bare token, not wrapped", good[:len(good)-2] + "xx"},
		{"4 KB of junk", strings.Repeat("A", 4096)},
	}
	out := make([]Forged, len(cookies))
	for i, c := range cookies {
		out[i] = Forged{Name: c.name, Cookie: &http.Cookie{Name: "session", Value: c.value}}
	}
	return out
}

// CookieValue wraps a token as cookie-session does: base64 of
// {"jwt":"<token>"}.
func CookieValue(token string) string {
	b, _ := json.Marshal(map[string]string{"jwt": token})
	return base64.StdEncoding.EncodeToString(b)
}

// TokenOf returns the token inside a session cookie's value: the inverse
// of CookieValue.
func TokenOf(t testing.TB, cookieValue string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(cookieValue)
	if err != nil {
		t.Fatalf("webtest: session cookie %q: %v", cookieValue, err)
	}
	var s struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("webtest: session cookie %q: %v", cookieValue, err)
	}
	return s.JWT
}

// MalformedIDs are path ids that are no ObjectId, each as it goes into a
// URL path: an id, an id of 25 or 23 hex digits, NUL, path traversal and
// operator objects, escaped and not.
func MalformedIDs() []string {
	return []string{
		"not-an-id",
		"507f1f77bcf86cd7994390111",
		"507f1f77bcf86cd79943901",
		"zzzzzzzzzzzzzzzzzzzzzzzz",
		"%00",
		"507f1f77bcf86cd79943901%00",
		"..",
		"..%2F..%2Fusers",
		"%2e%2e",
		"%7B%22%24ne%22%3Anull%7D",
		"%7B%22%24gt%22%3A%22%22%7D",
		"%24where",
		"null",
		"undefined",
		strings.Repeat("a", 4096),
	}
}
