package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/auth/internal/hashgate"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/auth/internal/userdb"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// jwtKey is the key the service under test signs its sessions with.
var jwtKey = []byte(testkit.JWTKey)

// cheap parameters keep the suite fast under -race; hashes keep the
// production format and code paths.
var cheap = user.Params{LogN: 10, R: 8, P: 1, KeyLen: 64, SaltLen: 16}

// testDeps are run's dependencies with cheap hashes admitted all at once:
// under the race detector on a busy machine, a burst of hashes could wait
// for the service's gate longer than it lets them, and be refused, which
// only the tests of the gate mean to see.
func testDeps() deps {
	d := productionDeps()
	d.params = cheap
	d.gate = func(*hashgate.Gate) user.Gate { return nil }
	return d
}

// service is one auth service started through runWith, and the parts run
// wired: its database, for the test to look into.
type service struct {
	*testkit.Service
	parts
	// client opens a connection for every request, so that each comes
	// from a port of its own, as the requests of separate clients do, and
	// holds the body of a request that asks to continue (Expect:
	// 100-continue) until the service asks for it.
	client *http.Client
}

// startService runs auth with testDeps on a fresh database, with neither
// rate limit, and stops it when the test ends.
func startService(t *testing.T) *service {
	t.Helper()
	return startServiceWith(t, testDeps(), nil)
}

// startServiceWith runs auth with d on a fresh database, with the
// variables of vars on top of the test environment, which turns both rate
// limits off.
func startServiceWith(t *testing.T, d deps, vars map[string]string) *service {
	t.Helper()
	started := make(chan parts, 1)
	d.started = func(p parts) { started <- p }
	env := testkit.ServiceEnv(testkit.MongoURI(t), nil, map[string]string{
		"RATE_LIMIT":           "0",
		"SIGNIN_FAILURE_LIMIT": "0",
	}, vars)
	svc := testkit.StartService(t, func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		return runWith(ctx, getenv, stdout, d)
	}, env)
	transport := &http.Transport{DisableKeepAlives: true, ExpectContinueTimeout: 10 * time.Second}
	t.Cleanup(transport.CloseIdleConnections)
	return &service{Service: svc, parts: <-started, client: &http.Client{Transport: transport}}
}

// request is one call on the service. The body goes as JSON unless
// headers, when set, replace its Content-Type (see webtest.Headers);
// forwardedFor, when set, is the X-Forwarded-For header a proxy in front
// of auth would send, naming the client.
type request struct {
	method, path, body string
	cookie             *http.Cookie
	forwardedFor       string
	headers            *webtest.Headers
}

// response is an HTTP answer as a test reads it.
type response struct {
	status  int
	header  http.Header
	body    string
	cookies []*http.Cookie
}

func (s *service) do(t *testing.T, req request) response {
	t.Helper()
	r, err := s.try(req)
	require.NoError(t, err)
	return r
}

// try is do for goroutines other than the test's, which must not fail it.
func (s *service) try(req request) (response, error) {
	r, err := webtest.Send(s.client, req.method, s.URL+req.path, req.body, req.cookie, func(r *http.Request) {
		if req.headers != nil {
			req.headers.Set(r)
		}
		if req.forwardedFor != "" {
			r.Header.Set("X-Forwarded-For", req.forwardedFor)
		}
	})
	return response{status: r.Status, header: r.Header, body: string(r.Body), cookies: r.Cookies}, err
}

func (s *service) post(t *testing.T, path, body string) response {
	t.Helper()
	return s.do(t, request{method: http.MethodPost, path: path, body: body})
}

func (s *service) currentUser(t *testing.T, c *http.Cookie) response {
	t.Helper()
	return s.do(t, request{method: http.MethodGet, path: "/api/users/currentuser", cookie: c})
}

// signUp registers a user and returns the response's id and session cookie.
func (s *service) signUp(t *testing.T, email, password string) (string, *http.Cookie) {
	t.Helper()
	r := s.post(t, "/api/users/signup", credentials(email, password))
	require.Equal(t, http.StatusCreated, r.status, r.body)
	var body struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(r.body), &body))
	c := r.sessionCookie()
	require.NotNil(t, c, "no session cookie")
	return body.ID, c
}

func (s *service) users(t *testing.T) []bson.M {
	t.Helper()
	cur, err := s.db.Collection(userdb.Collection).Find(context.Background(), bson.D{})
	require.NoError(t, err)
	var docs []bson.M
	require.NoError(t, cur.All(context.Background(), &docs))
	return docs
}

func credentials(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// sessionCookie is the session cookie the response sets, or nil.
func (r response) sessionCookie() *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == session.CookieName {
			return c
		}
	}
	return nil
}

// errorBody is the common error shape with the given messages, fields
// given as "field: message".
func errorBody(entries ...string) string {
	type detail struct {
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	body := struct {
		Errors []detail `json:"errors"`
	}{Errors: []detail{}}
	for _, e := range entries {
		field, msg, ok := strings.Cut(e, ": ")
		if !ok {
			field, msg = "", e
		}
		body.Errors = append(body.Errors, detail{Message: msg, Field: field})
	}
	b, _ := json.Marshal(body)
	return string(b)
}
