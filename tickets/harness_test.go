package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/tickets/internal/ticketdb"
)

// childEnv makes the test binary run the service instead of the tests, so
// that a test can kill a real process of the service at a chosen moment.
const childEnv = "TICKETS_TEST_RUN_SERVICE"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		lifecycle.Main("tickets", run)
		os.Exit(0)
	}
	testkit.Main(m)
}

// service is one running tickets service and what a test needs around it.
type service struct {
	*testkit.Service
	nats embedded.Bus
	db   *mongo.Database

	connOnce sync.Once
	conn     *bus.Conn // publishes other services' events
}

// startService runs the service in this process with its own database and
// bus server, and stops it when the test ends.
func startService(t *testing.T) *service {
	t.Helper()
	n := testkit.NATS(t)
	return startServiceOn(t, testkit.ServiceEnv(testkit.MongoURI(t), n), n)
}

// startServiceOn runs the service in this process with env, whose bus
// server is n, and waits until it is ready.
func startServiceOn(t *testing.T, env map[string]string, n embedded.Bus, opts ...testkit.ServiceOption) *service {
	t.Helper()
	return startServiceWith(t, run, env, n, opts...)
}

// startServiceWith is startServiceOn with run's dependencies bound by the
// test: run is runWith on the test's deps.
func startServiceWith(t *testing.T, run testkit.Run, env map[string]string, n embedded.Bus, opts ...testkit.ServiceOption) *service {
	t.Helper()
	return &service{
		Service: testkit.StartService(t, run, env, opts...),
		nats:    n,
		db:      database(t, env["MONGO_URI"]),
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

// newUserID returns a user id as auth hands them out.
func newUserID() string { return bson.NewObjectID().Hex() }

// response is an HTTP answer as a test reads it.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errors decodes the common error shape.
func (r response) errors(t *testing.T) []errs.Detail {
	t.Helper()
	return webtest.Errors(t, r.body)
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
	var edit func(*http.Request)
	if h != nil {
		edit = h.Set
	}
	r, err := webtest.Send(nil, method, s.URL+path, body, cookie, edit)
	return response{status: r.Status, header: r.Header, body: r.Body}, err
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

// publish sends e as another service would.
func publish[E events.Event](t *testing.T, s *service, e E) {
	t.Helper()
	testkit.Publish(t, s.publisher(t), e)
}

// publisher returns the connection that other services' events are
// published through, connecting it on first use.
func (s *service) publisher(t *testing.T) *bus.Conn {
	t.Helper()
	s.connOnce.Do(func() { s.conn = testkit.Bus(t, s.nats) })
	return s.conn
}
