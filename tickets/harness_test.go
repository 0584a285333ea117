package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/tickets/internal/ticketdb"
)

// childEnv makes the test binary run the service instead of the tests, so
// that a test can kill a real process of the service at a chosen moment.
const childEnv = "TICKETS_TEST_RUN_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err := run(ctx, os.Getenv, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tickets:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	testkit.Main(m)
}

var jwtKey = []byte("test-jwt-key-of-at-least-32-bytes")

// env is the environment of one service process.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func (e env) list() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// newEnv configures a service on mongoURI and n, listening on a free port
// under a NATS client id of its own.
func newEnv(t *testing.T, mongoURI string, n *embedded.NATSStreaming) env {
	t.Helper()
	return env{
		"PORT":            testkit.FreePort(t),
		"JWT_KEY":         string(jwtKey),
		"MONGO_URI":       mongoURI,
		"COOKIE_SECURE":   "false",
		"LOG_LEVEL":       "debug",
		"NATS_URL":        n.URL(),
		"NATS_CLUSTER_ID": n.ClusterID(),
		"NATS_CLIENT_ID":  testkit.BusConfig(n).ClientID,
	}
}

// service is one running tickets service and what a test needs around it.
type service struct {
	url  string
	nats *embedded.NATSStreaming
	db   *mongo.Database
	// done is closed when run returns, err is what it returned.
	done chan struct{}
	err  error
	stop context.CancelFunc

	connOnce sync.Once
	conn     *bus.Conn // publishes other services' events
}

// startService runs the service in this process with its own database and
// NATS Streaming server, and stops it when the test ends.
func startService(t *testing.T) *service {
	t.Helper()
	n := testkit.NATS(t)
	return startServiceOn(t, newEnv(t, testkit.MongoURI(t), n), n)
}

// startServiceOn runs the service in this process with e, whose NATS
// server is n, and waits until it is ready.
func startServiceOn(t *testing.T, e env, n *embedded.NATSStreaming) *service {
	t.Helper()
	return startServiceLogging(t, e, n, t.Output())
}

// startServiceLogging is startServiceOn with the service's stdout going to
// stdout until the test ends.
func startServiceLogging(t *testing.T, e env, n *embedded.NATSStreaming, stdout io.Writer) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{
		url:  "http://127.0.0.1:" + e["PORT"],
		nats: n,
		db:   database(t, e["MONGO_URI"]),
		done: make(chan struct{}),
		stop: cancel,
	}
	out := &testOutput{w: stdout}
	go func() {
		defer close(s.done)
		s.err = run(ctx, e.get, out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("service did not stop within 30 s")
		}
		out.close()
	})
	s.waitReady(t)
	return s
}

func (s *service) waitReady(t *testing.T) {
	t.Helper()
	waitReady(t, s.url, func() error {
		select {
		case <-s.done:
			return fmt.Errorf("service stopped while starting: %w", s.err)
		default:
			return nil
		}
	})
}

// waitReady waits until the service at url answers /readyz with 200,
// failing the test if exited reports that it stopped.
func waitReady(t *testing.T, url string, exited func() error) {
	t.Helper()
	testkit.Eventually(t, func() bool {
		if err := exited(); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "service at %s ready", url)
}

// wait waits up to d for run to return and returns its result.
func (s *service) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(d):
		t.Fatalf("service still running after %s", d)
		return nil
	}
}

// database opens the database of uri for the test to look into.
func database(t *testing.T, uri string) *mongo.Database {
	t.Helper()
	client, db, err := mongodb.Connect(uri, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return db
}

// testOutput writes a service's logs into the test's, until the test ends.
type testOutput struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
}

func (o *testOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return len(p), nil
	}
	return o.w.Write(p)
}

func (o *testOutput) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
}

// signIn returns a session cookie for userID, as the auth service sets it.
func signIn(t *testing.T, userID string) *http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	require.NoError(t, session.NewManager(jwtKey, time.Hour, false).SignIn(rec, userID, userID+"@test.dev"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	return cookies[0]
}

// newUserID returns a user id as auth hands them out.
func newUserID() string { return bson.NewObjectID().Hex() }

// response is an HTTP answer as a test reads it.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errors decodes the common error shape.
func (r response) errors(t *testing.T) []struct{ Message, Field string } {
	t.Helper()
	var body struct {
		Errors []struct{ Message, Field string } `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body), "%s", r.body)
	return body.Errors
}

// ticket decodes a ticket body.
func (r response) ticket(t *testing.T) ticketBody {
	t.Helper()
	var tk ticketBody
	require.NoError(t, json.Unmarshal(r.body, &tk), "%s", r.body)
	return tk
}

// ticketBody is a ticket as the API writes it; OrderID is a pointer to
// tell a missing orderId from an empty one.
type ticketBody struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Price   events.Money `json:"price"`
	UserID  string       `json:"userId"`
	Version int64        `json:"version"`
	OrderID *string      `json:"orderId"`
}

func (s *service) do(t *testing.T, method, path, body string, cookie *http.Cookie) response {
	t.Helper()
	r, err := s.try(method, path, body, cookie)
	require.NoError(t, err)
	return r
}

// try is do for goroutines other than the test's, which must not fail it.
func (s *service) try(method, path, body string, cookie *http.Cookie) (response, error) {
	return s.tryWith(method, path, body, cookie, nil)
}

// doWith is do with the headers of h in place of the JSON Content-Type.
func (s *service) doWith(t *testing.T, method, path string, h webtest.Headers, cookie *http.Cookie) response {
	t.Helper()
	r, err := s.tryWith(method, path, h.Body, cookie, &h)
	require.NoError(t, err)
	return r
}

func (s *service) tryWith(method, path, body string, cookie *http.Cookie, h *webtest.Headers) (response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if h != nil {
		h.Set(req)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// create lists a ticket as the user of cookie and returns it.
func (s *service) create(t *testing.T, cookie *http.Cookie, title, price string) ticketBody {
	t.Helper()
	r := s.do(t, http.MethodPost, "/api/tickets", fmt.Sprintf(`{"title":%q,"price":%s}`, title, price), cookie)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r.ticket(t)
}

// stored is a ticket's document as the database holds it.
type stored struct {
	Title            string           `bson:"title"`
	Price            int64            `bson:"price"`
	Version          int64            `bson:"version"`
	OrderID          *string          `bson:"orderId"`
	Outbox           []outbox.Message `bson:"outbox"`
	ReleasedOrderIDs []string         `bson:"releasedOrderIds"`
}

func (s *service) stored(t *testing.T, id string) stored {
	t.Helper()
	oid, err := bson.ObjectIDFromHex(id)
	require.NoError(t, err)
	var doc stored
	require.NoError(t, s.db.Collection(ticketdb.Collection).FindOne(context.Background(), bson.D{{Key: "_id", Value: oid}}).Decode(&doc))
	return doc
}

// observerSeq names each observer's queue group apart, so that two
// observers of one subject both see every event.
var observerSeq atomic.Int64

// observe returns every event of type E published on n from now on and
// before, in the order NATS Streaming delivers them.
func observe[E events.Event](t *testing.T, n *embedded.NATSStreaming) <-chan E {
	t.Helper()
	conn := testkit.Bus(t, n)
	ch := make(chan E, 1024)
	group := fmt.Sprint("test-observer-", observerSeq.Add(1))
	require.NoError(t, bus.NewListener(conn, group, func(_ context.Context, e E) error {
		select {
		case ch <- e:
		default: // a test that reads so few events does not care about the rest
		}
		return nil
	}).Listen(context.Background()))
	return ch
}

// next returns the next event from ch, failing the test after 15 s.
func next[E events.Event](t *testing.T, ch <-chan E) E {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(15 * time.Second):
		var zero E
		// A missing event means a relay or a listener is stuck or gave up;
		// where every goroutine stands tells which.
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Logf("goroutines:\n%s", buf)
		t.Fatalf("no %s event within 15 s", zero.Subject())
		return zero
	}
}

// quiet asserts that ch delivers nothing more within d.
func quiet[E events.Event](t *testing.T, ch <-chan E, d time.Duration) {
	t.Helper()
	select {
	case e := <-ch:
		t.Errorf("unexpected %s event: %+v", e.Subject(), e)
	case <-time.After(d):
	}
}

// publish sends e as another service would.
func publish[E events.Event](t *testing.T, s *service, e E) {
	t.Helper()
	require.NoError(t, bus.NewPublisher[E](s.publisher(t)).Publish(context.Background(), e))
}

// publisher returns the connection that other services' events are
// published through, connecting it on first use.
func (s *service) publisher(t *testing.T) *bus.Conn {
	t.Helper()
	s.connOnce.Do(func() { s.conn = testkit.Bus(t, s.nats) })
	return s.conn
}
