package session_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"ticketing.dev/common/session"
)

// The fuzz targets run on a fixed clock, so that the tokens of the seed
// corpus (signed with fuzzKey at fuzzNow, valid for a day) stay valid.
var (
	fuzzKey = []byte("fuzz-jwt-key-of-at-least-32-bytes")
	fuzzNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
)

// FuzzParseCookie feeds ParseCookie arbitrary cookie values, or, when
// asToken is set, arbitrary tokens wrapped as cookie-session wraps them.
// Whatever it accepts must hold a token that verifies on its own: an
// HS256 header, an HMAC-SHA256 under the key over exactly the signed bytes,
// an expiry after now, and the user it returns.
func FuzzParseCookie(f *testing.F) {
	claims := func(id any, iat, exp time.Time) jwt.MapClaims {
		return jwt.MapClaims{"id": id, "email": "a@b.co", "iat": iat.Unix(), "exp": exp.Unix()}
	}
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	const id = "507f1f77bcf86cd799439011"
	valid := sign(jwt.SigningMethodHS256, fuzzKey, claims(id, fuzzNow, fuzzNow.Add(24*time.Hour)))
	tokens := []string{
		valid,
		sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(id, fuzzNow, fuzzNow.Add(time.Hour))),
		sign(jwt.SigningMethodHS512, fuzzKey, claims(id, fuzzNow, fuzzNow.Add(time.Hour))),
		sign(jwt.SigningMethodHS256, []byte("wrong-key"), claims(id, fuzzNow, fuzzNow.Add(time.Hour))),
		sign(jwt.SigningMethodHS256, fuzzKey, claims(id, fuzzNow.Add(-2*time.Hour), fuzzNow.Add(-time.Hour))),
		sign(jwt.SigningMethodHS256, fuzzKey, jwt.MapClaims{"id": id, "iat": fuzzNow.Unix()}),
		sign(jwt.SigningMethodHS256, fuzzKey, claims("not-an-object-id", fuzzNow, fuzzNow.Add(time.Hour))),
		sign(jwt.SigningMethodHS256, fuzzKey, claims(map[string]any{"$ne": nil}, fuzzNow, fuzzNow.Add(time.Hour))),
		"", "garbage", "a.b.c", "..",
	}
	for _, tok := range tokens {
		f.Add(tok, true)
		f.Add(cookieValue(tok), false)
	}
	f.Add(strings.TrimRight(cookieValue(valid), "="), false)
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"jwt":"`+valid+`"}`)), false)
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"JWT":"`+valid+`"}`)), false)
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"jwt":null}`)), false)
	f.Add(base64.StdEncoding.EncodeToString([]byte(`[]`)), false)
	f.Add("!!!", false)

	m := session.NewManager(fuzzKey, 24*time.Hour, false, session.WithClock(func() time.Time { return fuzzNow }))
	f.Fuzz(func(t *testing.T, value string, asToken bool) {
		if asToken {
			value = cookieValue(value)
		}
		u, err := m.ParseCookie(value)
		if err != nil {
			if u != (session.User{}) {
				t.Fatalf("a refused cookie named a user: %+v", u)
			}
			return
		}
		verifyIndependently(t, value, u)
	})
}

// cookieValue wraps a token as cookie-session does.
func cookieValue(token string) string {
	b, _ := json.Marshal(map[string]string{"jwt": token})
	return base64.StdEncoding.EncodeToString(b)
}

// verifyIndependently checks an accepted cookie without the JWT library:
// only the holder of fuzzKey could have written it.
func verifyIndependently(t *testing.T, value string, u session.User) {
	t.Helper()
	value = strings.TrimRight(value, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(value, "-_") {
		enc = base64.RawURLEncoding
	}
	raw, err := enc.DecodeString(value)
	if err != nil {
		t.Fatalf("accepted a cookie that is not base64: %q", value)
	}
	var c struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("accepted a cookie that is not JSON: %q", raw)
	}
	parts := strings.Split(c.JWT, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a token of %d parts: %q", len(parts), c.JWT)
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(b, &header) != nil {
		t.Fatalf("accepted a token with an unreadable header: %q", parts[0])
	}
	if header.Alg != "HS256" {
		t.Fatalf("accepted a token signed with %q", header.Alg)
	}
	mac := hmac.New(sha256.New, fuzzKey)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		t.Fatalf("accepted a token whose signature is not HMAC-SHA256 under the key: %q", c.JWT)
	}
	var payload struct {
		ID    string   `json:"id"`
		Email string   `json:"email"`
		Iat   *float64 `json:"iat"`
		Exp   *float64 `json:"exp"`
	}
	if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(b, &payload) != nil {
		t.Fatalf("accepted a token with an unreadable payload: %q", parts[1])
	}
	if payload.Exp == nil || time.Unix(int64(*payload.Exp), 0).Before(fuzzNow) || payload.Iat == nil {
		t.Fatalf("accepted a token without iat or without an exp after now: %+v", payload)
	}
	if u.ID != payload.ID || u.Email != payload.Email {
		t.Fatalf("returned %+v for claims %+v", u, payload)
	}
	if len(u.ID) != 24 || strings.Trim(u.ID, "0123456789abcdef") != "" {
		t.Fatalf("accepted a user id that is not an ObjectId: %q", u.ID)
	}
}
