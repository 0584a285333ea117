package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/auth/internal/httpapi"
	"ticketing.dev/auth/internal/user"
	"ticketing.dev/auth/internal/userdb"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

var jwtKey = []byte("test-jwt-key-of-at-least-32-bytes")

// cheap parameters keep the suite fast under -race; hashes keep the
// production format and code paths.
var cheap = user.Params{LogN: 10, R: 8, P: 1, KeyLen: 64, SaltLen: 16}

type apiConfig struct {
	rateLimit int
	params    user.Params
	trusted   []netip.Prefix
	gate      user.Gate
	// signInFailures per failureWindow per account; 0 is no limit.
	signInFailures int
	failureWindow  time.Duration
	// now is the limiters' clock; time.Now when nil.
	now func() time.Time
}

// api is the auth router on a fresh database of the embedded FerretDB.
type api struct {
	t       *testing.T
	handler http.Handler
	db      *mongo.Database
}

func newAPI(t *testing.T, cfgs ...apiConfig) *api {
	t.Helper()
	cfg := apiConfig{params: cheap}
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	db := testkit.DB(t)
	store := userdb.New(db)
	require.NoError(t, store.EnsureIndexes(t.Context()))
	opts := []user.Option{user.WithParams(cfg.params)}
	if cfg.gate != nil {
		opts = append(opts, user.WithGate(cfg.gate))
	}
	users, err := user.NewService(store, opts...)
	require.NoError(t, err)
	return &api{
		t:  t,
		db: db,
		handler: httpapi.Routes(httpapi.Deps{
			Users:               users,
			Sessions:            session.NewManager(jwtKey, time.Hour, false),
			Log:                 testkit.Logger(t),
			RateLimit:           cfg.rateLimit,
			TrustedProxies:      cfg.trusted,
			SignInFailures:      cfg.signInFailures,
			SignInFailureWindow: cfg.failureWindow,
			Now:                 cfg.now,
		}),
	}
}

// request is one call on the router; from, when set, is the peer's address
// and forwardedFor its X-Forwarded-For header. The body goes as JSON unless
// headers, when set, replace its Content-Type (see webtest.Headers).
type request struct {
	method, path, body string
	cookie             *http.Cookie
	from               string
	forwardedFor       string
	headers            *webtest.Headers
}

func (a *api) do(req request) *httptest.ResponseRecorder {
	r := httptest.NewRequest(req.method, req.path, strings.NewReader(req.body))
	r.Header.Set("Content-Type", "application/json")
	if req.headers != nil {
		req.headers.Set(r)
	}
	if req.cookie != nil {
		r.AddCookie(req.cookie)
	}
	if req.from != "" {
		r.RemoteAddr = req.from
	}
	if req.forwardedFor != "" {
		r.Header.Set("X-Forwarded-For", req.forwardedFor)
	}
	w := httptest.NewRecorder()
	a.handler.ServeHTTP(w, r)
	return w
}

func (a *api) post(path, body string) *httptest.ResponseRecorder {
	return a.do(request{method: http.MethodPost, path: path, body: body})
}

func (a *api) currentUser(c *http.Cookie) *httptest.ResponseRecorder {
	return a.do(request{method: http.MethodGet, path: "/api/users/currentuser", cookie: c})
}

// signUp registers a user and returns the response's id and session cookie.
func (a *api) signUp(email, password string) (string, *http.Cookie) {
	a.t.Helper()
	w := a.post("/api/users/signup", credentials(email, password))
	require.Equal(a.t, http.StatusCreated, w.Code, w.Body.String())
	var body struct{ ID string }
	require.NoError(a.t, json.Unmarshal(w.Body.Bytes(), &body))
	c := sessionCookie(w)
	require.NotNil(a.t, c, "no session cookie")
	return body.ID, c
}

func (a *api) users() []bson.M {
	a.t.Helper()
	cur, err := a.db.Collection(userdb.Collection).Find(context.Background(), bson.D{})
	require.NoError(a.t, err)
	var docs []bson.M
	require.NoError(a.t, cur.All(context.Background(), &docs))
	return docs
}

func credentials(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

func sessionCookie(w *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range w.Result().Cookies() {
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
