// Package session keeps the signed-in user in a cookie that the original
// app's cookie-session can read and write: cookie "session" holds base64 of
// {"jwt":"<token>"}, and the token is an HS256 JWT with id, email, iat and,
// unlike the original, exp.
package session

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
)

// CookieName is the session cookie's name, as cookie-session names it.
const CookieName = "session"

// DefaultTTL is how long a session lasts unless configured otherwise.
const DefaultTTL = 24 * time.Hour

// ErrNotAuthorized is the answer to a request that needs a signed-in user.
var ErrNotAuthorized = errs.New(errs.Unauthorized, "Not authorized")

// User is the signed-in user as the token names them. Its JSON is the
// currentUser of GET /api/users/currentuser.
type User struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	IssuedAt int64  `json:"iat"`
}

type claims struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	jwt.RegisteredClaims
}

// Manager signs and reads session cookies.
type Manager struct {
	key    []byte
	ttl    time.Duration
	secure bool
	now    func() time.Time
	parser *jwt.Parser
}

// Option configures a Manager.
type Option func(*Manager)

// WithClock makes the Manager read the time from now; tests use it.
func WithClock(now func() time.Time) Option {
	return func(m *Manager) { m.now = now }
}

// NewManager returns a Manager signing with key. Tokens last ttl; cookies
// carry the Secure flag when secure is set.
func NewManager(key []byte, ttl time.Duration, secure bool, opts ...Option) *Manager {
	m := &Manager{key: key, ttl: ttl, secure: secure, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	m.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return m.now() }),
	)
	return m
}

// Token signs a token for the user.
func (m *Manager) Token(id, email string) (string, error) {
	now := m.now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		ID:    id,
		Email: email,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(m.ttl)),
		},
	})
	s, err := t.SignedString(m.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// SignIn sets the session cookie for the user.
func (m *Manager) SignIn(w http.ResponseWriter, id, email string) error {
	token, err := m.Token(id, email)
	if err != nil {
		return err
	}
	value, err := json.Marshal(struct {
		JWT string `json:"jwt"`
	}{token})
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	http.SetCookie(w, m.cookie(base64.StdEncoding.EncodeToString(value), int(m.ttl/time.Second)))
	return nil
}

// SignOut clears the session cookie.
func (m *Manager) SignOut(w http.ResponseWriter) {
	http.SetCookie(w, m.cookie("", -1))
}

func (m *Manager) cookie(value string, maxAge int) *http.Cookie {
	c := &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   m.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		c.Expires = time.Unix(0, 0)
	}
	return c
}

// Parse returns the user a request's session cookie names, if the cookie
// holds a token this Manager signed with HS256 that has not expired and
// names a user id as auth issues them.
func (m *Manager) Parse(r *http.Request) (User, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return User{}, false
	}
	u, err := m.ParseCookie(c.Value)
	return u, err == nil
}

// ParseCookie reads a session cookie's value.
func (m *Manager) ParseCookie(value string) (User, error) {
	raw, err := decodeBase64(value)
	if err != nil {
		return User{}, fmt.Errorf("decode session: %w", err)
	}
	var s struct {
		JWT string `json:"jwt"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return User{}, fmt.Errorf("decode session: %w", err)
	}
	var c claims
	if _, err := m.parser.ParseWithClaims(s.JWT, &c, func(*jwt.Token) (any, error) { return m.key, nil }); err != nil {
		return User{}, fmt.Errorf("parse token: %w", err)
	}
	if !validUserID(c.ID) || c.IssuedAt == nil {
		return User{}, errors.New("parse token: missing or malformed id, or missing iat")
	}
	return User{ID: c.ID, Email: c.Email, IssuedAt: c.IssuedAt.Unix()}, nil
}

// validUserID reports whether id is a user id as auth hands them out: an
// ObjectID in 24 lower-case hex digits. A correctly signed token naming
// anything else was not issued by auth; refusing it keeps ids of any other
// shape or size out of every document and event that records a user, and
// gives one user one spelling of their id, which ownership checks compare.
func validUserID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// cookie-session writes standard base64 with padding; tolerate the other
// alphabets and missing padding that clients sometimes produce.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

type ctxKey int

const userKey ctxKey = iota

// CurrentUser is middleware that puts the session's user, if any, in the
// request context. It never fails a request: a missing, forged or expired
// cookie just means nobody is signed in.
func (m *Manager) CurrentUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := m.Parse(r); ok {
			r = r.WithContext(WithUser(r.Context(), u))
		}
		next.ServeHTTP(w, r)
	})
}

// RequireAuth is middleware that answers 401 "Not authorized" unless
// CurrentUser found a signed-in user.
func RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); !ok {
			web.WriteError(w, r, ErrNotAuthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// FromContext returns the signed-in user, if any.
func FromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey).(User)
	return u, ok
}

// Current returns the signed-in user of a request behind RequireAuth.
// Calling it elsewhere is a programming error reported as ErrNotAuthorized.
func Current(ctx context.Context) (User, error) {
	u, ok := FromContext(ctx)
	if !ok {
		return User{}, ErrNotAuthorized
	}
	return u, nil
}
