package session_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/session"
)

var key = []byte("test-jwt-key-of-at-least-32-bytes")

// uid is a user id as auth issues them.
const uid = "507f1f77bcf86cd799439011"

func cookieFor(token string) *http.Cookie {
	v, _ := json.Marshal(map[string]string{"jwt": token})
	return &http.Cookie{Name: session.CookieName, Value: base64.StdEncoding.EncodeToString(v)}
}

func sign(t *testing.T, method jwt.SigningMethod, signKey any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(signKey)
	require.NoError(t, err)
	return s
}

func parse(m *session.Manager, c *http.Cookie) (session.User, bool) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(c)
	return m.Parse(r)
}

func TestSignIn_SetsACookieTheOriginalCanRead(t *testing.T) {
	m := session.NewManager(key, time.Hour, true)
	w := httptest.NewRecorder()
	require.NoError(t, m.SignIn(w, "507f1f77bcf86cd799439011", "a@b.co"))

	cookies := w.Result().Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	assert.Equal(t, "session", c.Name)
	assert.Equal(t, "/", c.Path)
	assert.True(t, c.HttpOnly)
	assert.True(t, c.Secure)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, 3600, c.MaxAge)

	// cookie-session's format: base64(JSON) with a "jwt" member.
	raw, err := base64.StdEncoding.DecodeString(c.Value)
	require.NoError(t, err)
	var body map[string]string
	require.NoError(t, json.Unmarshal(raw, &body))
	tok, err := jwt.Parse(body["jwt"], func(*jwt.Token) (any, error) { return key, nil })
	require.NoError(t, err)
	claims := tok.Claims.(jwt.MapClaims)
	assert.Equal(t, "507f1f77bcf86cd799439011", claims["id"])
	assert.Equal(t, "a@b.co", claims["email"])
	assert.Contains(t, claims, "iat")
	assert.Contains(t, claims, "exp")
	assert.Equal(t, "HS256", tok.Method.Alg())

	u, ok := parse(m, c)
	require.True(t, ok)
	assert.Equal(t, "507f1f77bcf86cd799439011", u.ID)
	assert.Equal(t, "a@b.co", u.Email)
}

func TestSignIn_InsecureCookieWhenConfigured(t *testing.T) {
	m := session.NewManager(key, time.Hour, false)
	w := httptest.NewRecorder()
	require.NoError(t, m.SignIn(w, uid, "a@b.co"))
	assert.False(t, w.Result().Cookies()[0].Secure)
}

func TestSignOut_ClearsTheCookie(t *testing.T) {
	m := session.NewManager(key, time.Hour, false)
	w := httptest.NewRecorder()
	m.SignOut(w)
	header := w.Header().Get("Set-Cookie")
	assert.True(t, strings.HasPrefix(header, "session=;"), header)
	assert.Contains(t, header, "Max-Age=0")
	assert.Contains(t, header, "Expires=Thu, 01 Jan 1970 00:00:00 GMT")
}

func TestParse_RejectsForgedAndExpiredTokens(t *testing.T) {
	now := time.Now()
	m := session.NewManager(key, time.Hour, false)
	valid := jwt.MapClaims{"id": uid, "email": "a@b.co", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}

	noneToken := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid)
	hs512 := sign(t, jwt.SigningMethodHS512, key, valid)
	otherKey := sign(t, jwt.SigningMethodHS256, []byte("other-key"), valid)
	expired := sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"id": uid, "email": "a@b.co", "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})
	noExpiry := sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"id": uid, "email": "a@b.co", "iat": now.Unix()})
	noID := sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"email": "a@b.co", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	withID := func(id any) string {
		return sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"id": id, "email": "a@b.co", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	}
	noIssuedAt := sign(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"id": uid, "email": "a@b.co", "exp": now.Add(time.Hour).Unix()})
	good := sign(t, jwt.SigningMethodHS256, key, valid)

	cases := []struct {
		name   string
		cookie *http.Cookie
		ok     bool
	}{
		{"valid", cookieFor(good), true},
		{"alg none", cookieFor(noneToken), false},
		{"alg HS512", cookieFor(hs512), false},
		{"bad signature", cookieFor(otherKey), false},
		{"expired", cookieFor(expired), false},
		{"no expiry", cookieFor(noExpiry), false},
		{"no id", cookieFor(noID), false},
		{"an id that is not an ObjectId", cookieFor(withID("u1")), false},
		{"an operator object for an id", cookieFor(withID(map[string]any{"$ne": nil})), false},
		{"an id in upper-case hex", cookieFor(withID("507F1F77BCF86CD799439011")), false},
		{"an id of 25 hex digits", cookieFor(withID(uid + "1")), false},
		{"a number for an id", cookieFor(withID(42)), false},
		{"no iat", cookieFor(noIssuedAt), false},
		{"tampered payload", cookieFor(good[:len(good)-3] + "abc"), false},
		{"not base64", &http.Cookie{Name: "session", Value: "!!!"}, false},
		{"not json", &http.Cookie{Name: "session", Value: base64.StdEncoding.EncodeToString([]byte("nope"))}, false},
		{"empty", &http.Cookie{Name: "session", Value: ""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, ok := parse(m, c.cookie)
			assert.Equal(t, c.ok, ok)
			if c.ok {
				assert.Equal(t, uid, u.ID)
			}
		})
	}
}

func TestParse_TokenExpiresAfterTTL(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	m := session.NewManager(key, time.Minute, false, session.WithClock(func() time.Time { return clock() }))
	w := httptest.NewRecorder()
	require.NoError(t, m.SignIn(w, uid, "a@b.co"))
	c := w.Result().Cookies()[0]

	_, ok := parse(m, c)
	assert.True(t, ok)
	clock = func() time.Time { return now.Add(2 * time.Minute) }
	_, ok = parse(m, c)
	assert.False(t, ok)
}

func TestRequireAuth(t *testing.T) {
	m := session.NewManager(key, time.Hour, false)
	h := m.CurrentUser(session.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := session.Current(r.Context())
		require.NoError(t, err)
		_, _ = w.Write([]byte(u.Email))
	})))

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.JSONEq(t, `{"errors":[{"message":"Not authorized"}]}`, w.Body.String())

	signin := httptest.NewRecorder()
	require.NoError(t, m.SignIn(signin, uid, "a@b.co"))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(signin.Result().Cookies()[0])
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "a@b.co", w.Body.String())
}
