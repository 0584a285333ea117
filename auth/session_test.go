package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/session"
)

// cookieWith wraps token the way cookie-session does.
func cookieWith(token string) *http.Cookie {
	v, _ := json.Marshal(map[string]string{"jwt": token})
	return &http.Cookie{Name: session.CookieName, Value: base64.StdEncoding.EncodeToString(v)}
}

func TestCurrentUser_IgnoresTokensItDidNotIssue(t *testing.T) {
	now := time.Now()
	claims := func(iat, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"id": "507f1f77bcf86cd799439011", "email": "test@test.com", "iat": iat.Unix(), "exp": exp.Unix()}
	}
	valid := claims(now, now.Add(time.Hour))
	sign := func(t *testing.T, m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		require.NoError(t, err)
		return s
	}

	tests := []struct {
		name  string
		token func(t *testing.T) string
	}{
		{"alg none", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid)
		}},
		{"bad signature", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("not-the-key"), valid)
		}},
		{"another HMAC algorithm", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS512, jwtKey, valid)
		}},
		{"expired", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, jwtKey, claims(now.Add(-2*time.Hour), now.Add(-time.Hour)))
		}},
		{"no expiry", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, jwtKey, jwt.MapClaims{"id": "507f1f77bcf86cd799439011", "email": "test@test.com", "iat": now.Unix()})
		}},
		{"not a token", func(*testing.T) string { return "garbage" }},
	}
	s := startService(t)

	// The same claims, correctly signed, are accepted: the cases below fail
	// for their flaw alone.
	r := s.currentUser(t, cookieWith(sign(t, jwt.SigningMethodHS256, jwtKey, valid)))
	require.Contains(t, r.body, `"id":"507f1f77bcf86cd799439011"`)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.currentUser(t, cookieWith(tt.token(t)))

			assert.Equal(t, http.StatusOK, r.status)
			assert.JSONEq(t, `{"currentUser":null}`, r.body)
		})
	}
}
