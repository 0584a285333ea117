package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/auth/internal/hashgate"
	"ticketing.dev/auth/internal/user"
)

const (
	msgEmail         = "email: Email must be valid"
	msgPasswordRange = "password: Password must be between 4 and 30 characters"
	msgPasswordEmpty = "password: You must supply a password"
)

func TestSignup_ReturnsCreatedWithTheUser(t *testing.T) {
	s := startService(t)

	r := s.post(t, "/api/users/signup", credentials("test@test.com", "password"))

	require.Equal(t, http.StatusCreated, r.status, r.body)
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	assert.Equal(t, "test@test.com", body["email"])
	assert.Regexp(t, `^[0-9a-f]{24}$`, body["id"])
	assert.Len(t, body, 2, "only id and email: %v", body)
	assert.Len(t, s.users(t), 1)
}

func TestSignup_RejectsInvalidInput(t *testing.T) {
	testRejectsInvalidInput(t, "/api/users/signup", []invalidInput{
		{"invalid email", credentials("alskdflaskjfd", "password"), errorBody(msgEmail)},
		{"email without a dotted domain", credentials("test@test", "password"), errorBody(msgEmail)},
		{"password too short", credentials("test@test.com", "p"), errorBody(msgPasswordRange)},
		{"password too long", credentials("test@test.com", strings.Repeat("p", 31)), errorBody(msgPasswordRange)},
		{"password short once trimmed", credentials("test@test.com", "  pw  "), errorBody(msgPasswordRange)},
		{"missing password", `{"email":"test@test.com"}`, errorBody(msgPasswordRange)},
		{"missing email", `{"password":"password"}`, errorBody(msgEmail)},
		{"missing email and password", `{}`, errorBody(msgEmail, msgPasswordRange)},
		{"empty body", ``, errorBody(msgEmail, msgPasswordRange)},
		{"both invalid", credentials("nope", "p"), errorBody(msgEmail, msgPasswordRange)},
		{"password of the wrong type", `{"email":"test@test.com","password":1234}`,
			errorBody("password: Invalid value for password")},
	})
}

// invalidInput is a request body a route must refuse, and the error body
// it must refuse it with.
type invalidInput struct{ name, body, want string }

// testRejectsInvalidInput posts each body to path on a service of its own:
// each is a 400 with its error body, signs nobody in and stores nobody.
func testRejectsInvalidInput(t *testing.T, path string, tests []invalidInput) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startService(t)

			r := s.post(t, path, tt.body)

			assertRefused(t, r, tt.want)
			assert.Empty(t, s.users(t))
		})
	}
}

// assertRefused checks that r is a 400 with the error body want and sets
// no session cookie.
func assertRefused(t *testing.T, r response, want string) {
	t.Helper()
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.JSONEq(t, want, r.body)
	assert.Nil(t, r.sessionCookie())
}

func TestSignup_DuplicateEmailIsRejected(t *testing.T) {
	for _, second := range []string{"test@test.com", "TEST@Test.com", "  test@test.com "} {
		t.Run(second, func(t *testing.T) {
			s := startService(t)
			s.signUp(t, "test@test.com", "password")

			r := s.post(t, "/api/users/signup", credentials(second, "another"))

			assertRefused(t, r, errorBody("Email in use"))
			assert.Len(t, s.users(t), 1)
		})
	}
}

func TestSignup_SetsASessionCookie(t *testing.T) {
	s := startService(t)

	r := s.post(t, "/api/users/signup", credentials("test@test.com", "password"))

	require.Equal(t, http.StatusCreated, r.status)
	c := r.sessionCookie()
	require.NotNil(t, c)
	assert.NotEmpty(t, c.Value)
	assert.Equal(t, "/", c.Path)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.False(t, c.Secure, "COOKIE_SECURE=false in tests")
	assert.Contains(t, s.currentUser(t, c).body, `"email":"test@test.com"`)
}

func TestSignup_NormalizesTheEmail(t *testing.T) {
	s := startService(t)

	r := s.post(t, "/api/users/signup", credentials("  Test@Test.COM ", "password"))

	require.Equal(t, http.StatusCreated, r.status)
	assert.Contains(t, r.body, `"email":"test@test.com"`)
	assert.Equal(t, "test@test.com", s.users(t)[0]["email"])
}

func TestSignup_StoresAScryptHashNamingItsParameters(t *testing.T) {
	s := startService(t)
	s.signUp(t, "test@test.com", "password")

	docs := s.users(t)
	require.Len(t, docs, 1)
	hash, ok := docs[0]["password"].(string)
	require.True(t, ok, "password field: %v", docs[0])
	assert.Regexp(t, regexp.MustCompile(`^scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{86}$`), hash)
	match, err := user.VerifyPassword("password", hash)
	require.NoError(t, err)
	assert.True(t, match)
	assert.ElementsMatch(t, []string{"_id", "email", "password"}, keys(docs[0]))
}

func TestSignup_TrimsThePassword(t *testing.T) {
	s := startService(t)
	s.signUp(t, "test@test.com", "  password \t")

	r := s.post(t, "/api/users/signin", credentials("test@test.com", "password"))

	assert.Equal(t, http.StatusOK, r.status, r.body)
}

func TestSignup_ConcurrentSignupsWithOneEmailCreateOneUser(t *testing.T) {
	s := startService(t)
	const racers = 20
	codes := make([]int, racers)
	bodies := make([]string, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			r, err := s.try(request{method: http.MethodPost, path: "/api/users/signup", body: credentials("race@test.com", "password")})
			if err != nil {
				codes[i], bodies[i] = 0, err.Error()
				return
			}
			codes[i], bodies[i] = r.status, r.body
		})
	}
	wg.Wait()

	var created, inUse int
	for i, code := range codes {
		switch {
		case code == http.StatusCreated:
			created++
		case code == http.StatusBadRequest && jsonEqual(bodies[i], errorBody("Email in use")):
			inUse++
		default:
			t.Errorf("racer %d: %d %s", i, code, bodies[i])
		}
	}
	assert.Equal(t, 1, created)
	assert.Equal(t, racers-1, inUse)
	assert.Len(t, s.users(t), 1)
}

func TestSignin_FailsForAnUnknownEmail(t *testing.T) {
	s := startService(t)

	r := s.post(t, "/api/users/signin", credentials("test@test.com", "password"))

	assertRefused(t, r, errorBody("Invalid credentials"))
}

func TestSignin_FailsForAWrongPassword(t *testing.T) {
	s := startService(t)
	s.signUp(t, "test@test.com", "password")

	r := s.post(t, "/api/users/signin", credentials("test@test.com", "aslkdfjalskdfj"))

	assertRefused(t, r, errorBody("Invalid credentials"))
}

func TestSignin_ReturnsACookieForValidCredentials(t *testing.T) {
	s := startService(t)
	id, _ := s.signUp(t, "test@test.com", "password")

	r := s.post(t, "/api/users/signin", credentials("Test@Test.com", "password"))

	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.JSONEq(t, `{"id":"`+id+`","email":"test@test.com"}`, r.body)
	c := r.sessionCookie()
	require.NotNil(t, c)
	assert.Contains(t, s.currentUser(t, c).body, `"id":"`+id+`"`)
}

func TestSignin_RejectsInvalidInput(t *testing.T) {
	testRejectsInvalidInput(t, "/api/users/signin", []invalidInput{
		{"invalid email", credentials("alskdflaskjfd", "password"), errorBody(msgEmail)},
		{"missing password", `{"email":"test@test.com"}`, errorBody(msgPasswordEmpty)},
		{"blank password", credentials("test@test.com", "   "), errorBody(msgPasswordEmpty)},
		{"missing email and password", `{}`, errorBody(msgEmail, msgPasswordEmpty)},
	})
}

func TestSignout_ClearsTheCookie(t *testing.T) {
	s := startService(t)
	_, c := s.signUp(t, "test@test.com", "password")

	r := s.do(t, request{method: http.MethodPost, path: "/api/users/signout", body: "{}", cookie: c})

	require.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{}`, r.body)
	setCookie := r.header.Get("Set-Cookie")
	assert.True(t, strings.HasPrefix(setCookie, "session=;"), setCookie)
	assert.Contains(t, setCookie, "Path=/")
	assert.Contains(t, setCookie, "Expires=Thu, 01 Jan 1970 00:00:00 GMT")
	assert.Contains(t, setCookie, "Max-Age=0")
	assert.Contains(t, setCookie, "HttpOnly")
}

func TestCurrentUser_ReturnsTheSignedInUser(t *testing.T) {
	s := startService(t)
	before := time.Now().Unix()
	id, c := s.signUp(t, "test@test.com", "password")

	r := s.currentUser(t, c)

	require.Equal(t, http.StatusOK, r.status)
	var body struct {
		CurrentUser map[string]any `json:"currentUser"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	assert.Equal(t, id, body.CurrentUser["id"])
	assert.Equal(t, "test@test.com", body.CurrentUser["email"])
	iat, _ := body.CurrentUser["iat"].(float64)
	assert.InDelta(t, before, iat, 2)
	assert.Len(t, body.CurrentUser, 3)
}

func TestCurrentUser_IsNullWhenNotSignedIn(t *testing.T) {
	s := startService(t)

	r := s.currentUser(t, nil)

	assert.Equal(t, http.StatusOK, r.status)
	assert.JSONEq(t, `{"currentUser":null}`, r.body)
}

// The operator-injection attack on the original's MongoDB queries: an
// object where a string belongs. It must be a validation error, not a query.
func TestOperatorInjection_IsRejectedAndCreatesNothing(t *testing.T) {
	bodies := []string{
		`{"email":{"$gt":""},"password":"x"}`,
		`{"email":{"$ne":null},"password":"password"}`,
		`{"email":"test@test.com","password":{"$gt":""}}`,
		`{"email":["test@test.com"],"password":"password"}`,
	}
	for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
		for _, body := range bodies {
			t.Run(path+" "+body, func(t *testing.T) {
				s := startService(t)
				if path == "/api/users/signin" {
					s.signUp(t, "test@test.com", "password")
				}

				r := s.post(t, path, body)

				assert.Equal(t, http.StatusBadRequest, r.status)
				var got struct {
					Errors []struct{ Message, Field string }
				}
				require.NoError(t, json.Unmarshal([]byte(r.body), &got), r.body)
				require.Len(t, got.Errors, 1, r.body)
				assert.Contains(t, []string{"email", "password"}, got.Errors[0].Field)
				assert.Nil(t, r.sessionCookie())
				assert.LessOrEqual(t, len(s.users(t)), 1)
				for _, d := range s.users(t) {
					assert.Equal(t, "test@test.com", d["email"])
				}
			})
		}
	}
}

func TestMalformedBodies_AreClientErrors(t *testing.T) {
	huge := `{"email":"test@test.com","password":"` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name string
		body string
		code int
	}{
		{"truncated JSON", `{"email":"test@test.com",`, http.StatusBadRequest},
		{"not JSON", `email=test@test.com&password=password`, http.StatusBadRequest},
		{"an array", `[]`, http.StatusBadRequest},
		{"a string", `"test@test.com"`, http.StatusBadRequest},
		{"two objects", `{} {}`, http.StatusBadRequest},
		{"invalid UTF-8", "{\"email\":\"\xff@test.com\",\"password\":\"password\"}", http.StatusBadRequest},
		{"over 1 MiB", huge, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/users/signup", "/api/users/signin"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				s := startService(t)

				r := s.post(t, path, tt.body)

				assert.Equal(t, tt.code, r.status)
				assertCommonShape(t, []byte(r.body))
				assert.Empty(t, s.users(t))
			})
		}
	}
}

func TestUnknownRoutes_AreNotFoundInTheCommonShape(t *testing.T) {
	s := startService(t)
	for _, r := range []request{
		{method: http.MethodGet, path: "/api/users/nope"},
		{method: http.MethodGet, path: "/api/users/signup"},
		{method: http.MethodDelete, path: "/api/users/currentuser"},
		{method: http.MethodPost, path: "/api/users"},
		{method: http.MethodGet, path: "/"},
	} {
		got := s.do(t, r)
		assert.Equal(t, http.StatusNotFound, got.status, "%s %s", r.method, r.path)
		assert.JSONEq(t, errorBody("Not Found"), got.body, "%s %s", r.method, r.path)
	}
}

func TestResponses_NeverContainThePasswordOrItsHash(t *testing.T) {
	s := startService(t)
	const password = "s3cret-Passw0rd"
	signup := s.post(t, "/api/users/signup", credentials("test@test.com", password))
	require.Equal(t, http.StatusCreated, signup.status)
	signin := s.post(t, "/api/users/signin", credentials("test@test.com", password))
	require.Equal(t, http.StatusOK, signin.status)
	current := s.currentUser(t, signin.sessionCookie())
	hash := s.users(t)[0]["password"].(string)

	for name, r := range map[string]response{"signup": signup, "signin": signin, "currentuser": current} {
		var text strings.Builder
		text.WriteString(r.body)
		for k, vs := range r.header {
			text.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
		for _, c := range r.cookies {
			text.WriteString(decodeSessionCookie(c.Value))
		}
		for _, secret := range []string{password, hash, `"password"`} {
			assert.NotContains(t, text.String(), secret, name)
		}
	}
}

func assertCommonShape(t *testing.T, body []byte) {
	t.Helper()
	var got struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(body, &got), string(body))
	require.NotEmpty(t, got.Errors, string(body))
	assert.NotEmpty(t, got.Errors[0].Message)
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func keys(m bson.M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// decodeSessionCookie returns the cookie's JSON and its token's claims as
// text, so that a secret inside them would be seen.
func decodeSessionCookie(v string) string {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return v
	}
	var s struct{ JWT string }
	if json.Unmarshal(raw, &s) != nil {
		return string(raw)
	}
	out := string(raw)
	for _, part := range strings.Split(s.JWT, ".") {
		if b, err := base64.RawURLEncoding.DecodeString(part); err == nil {
			out += string(b)
		}
	}
	return out
}

// An unknown email must cost what a wrong password costs, or response
// times would tell which emails are registered. Hashing dominates both, so
// the fastest of several tries of each, taken in turns so that a busy
// machine slows both alike, must be within a factor of two either way. A
// busy machine only ever adds time, so the fastest tries converge on the
// real costs: the test takes more rounds, up to 15, until they agree, and
// fails only if they never do, as they would not were one path to skip
// hashing (a hundredth of the cost).
func TestSignin_UnknownEmailTakesAsLongAsAWrongPassword(t *testing.T) {
	d := testDeps()
	d.params = user.Params{LogN: 12, R: 8, P: 1, KeyLen: 64, SaltLen: 16}
	s := startServiceWith(t, d, nil)
	s.signUp(t, "known@test.com", "password")
	const known, unknown = "known@test.com", "unknown@test.com"
	fastest := map[string]time.Duration{}
	agree := func() bool {
		return fastest[unknown] > fastest[known]/2 && fastest[unknown] < fastest[known]*2
	}
	rounds := 0
	for rounds < 15 && (rounds < 3 || !agree()) {
		rounds++
		for _, email := range []string{known, unknown} {
			start := time.Now()
			r := s.post(t, "/api/users/signin", credentials(email, "wrong-password"))
			took := time.Since(start)
			require.Equal(t, http.StatusBadRequest, r.status)
			require.JSONEq(t, errorBody("Invalid credentials"), r.body)
			if best, ok := fastest[email]; !ok || took < best {
				fastest[email] = took
			}
		}
	}

	t.Logf("fastest of %d: wrong password %v, unknown email %v", rounds, fastest[known], fastest[unknown])
	assert.True(t, agree(), "unknown email %v, wrong password %v after %d rounds", fastest[unknown], fastest[known], rounds)
}

// countingGate admits every hash and counts them.
type countingGate struct{ entered, left atomic.Int32 }

func (g *countingGate) Enter(context.Context) (func(), error) {
	g.entered.Add(1)
	return func() { g.left.Add(1) }, nil
}

func TestSignupAndSignin_HashOnlyThroughTheGate(t *testing.T) {
	gate := &countingGate{}
	d := testDeps()
	d.gate = func(*hashgate.Gate) user.Gate { return gate }
	s := startServiceWith(t, d, nil)

	s.signUp(t, "test@test.com", "password")
	s.post(t, "/api/users/signin", credentials("test@test.com", "password"))
	s.post(t, "/api/users/signin", credentials("test@test.com", "wrong password"))
	s.post(t, "/api/users/signin", credentials("nobody@test.com", "password"))

	assert.EqualValues(t, 4, gate.entered.Load(), "one sign-up and three sign-ins, the unknown email's included")
	assert.EqualValues(t, 4, gate.left.Load(), "every turn ended")
}
