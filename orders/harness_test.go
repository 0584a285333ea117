package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/orders/internal/listener"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// service is the orders service started by run, as a process would be.
type service struct {
	*testkit.Service
	nats embedded.Bus
}

func start(t *testing.T) *service {
	t.Helper()
	return startWith(t, nil, nil)
}

// startWith runs the service with its stdout going to stdout (the test's
// log when nil) and the variables of override replacing the defaults.
func startWith(t *testing.T, stdout io.Writer, override map[string]string) *service {
	t.Helper()
	n := testkit.NATS(t)
	env := testkit.ServiceEnv(testkit.MongoURI(t), n, map[string]string{"EXPIRATION_WINDOW": "2m"}, override)
	var opts []testkit.ServiceOption
	if stdout != nil {
		opts = append(opts, testkit.Stdout(stdout))
	}
	return &service{Service: testkit.StartService(t, run, env, opts...), nats: n}
}

func cookie(t *testing.T, userID string) string {
	t.Helper()
	c := testkit.SignIn(t, userID)
	return c.Name + "=" + c.Value
}

// listAndOrder publishes ticket:created for ticketID, then places an
// order for it as buyer once the service's replica has the ticket, and
// returns the order as the API answered it.
func (s *service) listAndOrder(t *testing.T, ticketID, buyer string) (created struct{ ID, ExpiresAt string }) {
	t.Helper()
	testkit.Publish(t, testkit.Bus(t, s.nats), events.TicketCreated{ID: ticketID, Title: "concert", Price: 2500, UserID: "seller"})
	var res webtest.Response
	testkit.Eventually(t, func() bool {
		var err error
		res, err = webtest.Send(nil, http.MethodPost, s.URL+"/api/orders", `{"ticketId":"`+ticketID+`"}`, testkit.SignIn(t, buyer), nil)
		require.NoError(t, err)
		return res.Status != http.StatusNotFound // ticket:created not applied yet
	}, "ticket never reached the replica")
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	require.NoError(t, json.Unmarshal(res.Body, &created))
	return created
}

// window is a wired service's expiration window, the default.
const window = order.DefaultWindow

// clockStart is the time a wired service's clock starts at; it has a
// sub-millisecond part, which the wire does not keep.
var clockStart = time.Date(2026, 11, 25, 14, 0, 0, 123_456_789, time.UTC)

// ackWait is the shortest the bus allows, so that redeliveries come soon.
const ackWait = time.Second

// wired is the service started through runWith on a fresh database and a
// bus server of its own, with a clock the test moves, a short ack wait and
// what its expiration:complete handler returns recorded, and the parts run
// wired: its database, orders, store, handlers and metrics.
type wired struct {
	*service
	parts
	clock *testkit.Clock
	// client holds the body of a request that asks to continue (Expect:
	// 100-continue) until the service asks for it.
	client *http.Client

	connOnce sync.Once
	conn     *bus.Conn // publishes other services' events

	handled testkit.Handled // what ExpirationComplete returned
}

// startWired starts a wired service. Its sweeper, with an hour's grace,
// leaves the orders of the tests, which sweep with sweepers of their own,
// alone.
func startWired(t *testing.T) *wired {
	t.Helper()
	n := testkit.NATS(t)
	s := &wired{clock: testkit.NewClock(clockStart)}
	started := make(chan parts, 1)
	d := productionDeps()
	d.clock = s.clock.Now
	d.ackWait = ackWait
	d.subjects = func(h *listener.Handlers) listener.Subjects { return recording{h, &s.handled} }
	d.started = func(p parts) { started <- p }
	env := testkit.ServiceEnv(testkit.MongoURI(t), n, map[string]string{"EXPIRY_GRACE": time.Hour.String()})
	svc := testkit.StartService(t, func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		return runWith(ctx, getenv, stdout, d)
	}, env)
	s.service = &service{Service: svc, nats: n}
	s.parts = <-started
	transport := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	t.Cleanup(transport.CloseIdleConnections)
	s.client = &http.Client{Transport: transport}
	return s
}

// recording is the service's handlers, recording what ExpirationComplete
// returns.
type recording struct {
	*listener.Handlers
	handled *testkit.Handled
}

func (r recording) ExpirationComplete(ctx context.Context, e events.ExpirationComplete) error {
	return r.handled.Record(e.Subject(), e.OrderID, r.Handlers.ExpirationComplete(ctx, e))
}

// expirations returns what the expiration:complete handler returned for
// the order's events, in order.
func (s *wired) expirations(orderID string) []error {
	return s.handled.Errs(events.SubjectExpirationComplete, orderID)
}

// newID returns a new id as the services hand them out.
func newID() string { return bson.NewObjectID().Hex() }

// publish sends e as another service would.
func publish[E events.Event](t *testing.T, s *wired, e E) {
	t.Helper()
	s.connOnce.Do(func() { s.conn = testkit.Bus(t, s.nats) })
	testkit.Publish(t, s.conn, e)
}

// ticket lists a ticket as the tickets service does, with ticket:created,
// and returns it once the replica holds it.
func (s *wired) ticket(t *testing.T, title string, price events.Money) order.Ticket {
	t.Helper()
	tk := order.Ticket{ID: newID(), Title: title, Price: price}
	publish(t, s, events.TicketCreated{ID: tk.ID, Title: title, Price: price, UserID: newID()})
	testkit.Eventually(t, func() bool {
		_, err := s.store.Ticket(context.Background(), tk.ID)
		return err == nil
	}, "ticket %s never reached the replica", tk.ID)
	return tk
}

// replica returns the replica's ticket, failing the test if it is missing.
func (s *wired) replica(t *testing.T, id string) order.Ticket {
	t.Helper()
	tk, err := s.store.Ticket(context.Background(), id)
	require.NoError(t, err)
	return tk
}

// getOrder returns the stored order, failing the test if it is missing.
func (s *wired) getOrder(t *testing.T, id string) order.View {
	t.Helper()
	v, err := s.store.Order(context.Background(), id)
	require.NoError(t, err)
	return v
}

// placed places an order of "buyer" for a new ticket and waits for its
// order:created to be published, so that later events are the test's
// alone.
func (s *wired) placed(t *testing.T) order.View {
	t.Helper()
	created := testkit.Observe[events.OrderCreated](t, s.nats)
	v, err := s.orders.Place(t.Context(), "buyer", s.ticket(t, "concert", 2000).ID)
	require.NoError(t, err)
	// The observer sees every order:created from the first: the earlier
	// orders' come before this one's.
	for {
		if testkit.Next(t, created).ID == v.ID {
			return v
		}
	}
}

// pending counts the orders with events not yet relayed.
func (s *wired) pending(t *testing.T) int64 {
	t.Helper()
	n, err := s.db.Collection(orderdb.OrdersCollection).CountDocuments(t.Context(),
		bson.D{{Key: outbox.Field + ".0", Value: bson.D{{Key: "$exists", Value: true}}}})
	require.NoError(t, err)
	return n
}

// response is an HTTP answer as a test reads it.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request as the user (nobody when userID is empty), its
// body, if any, as JSON.
func (s *wired) do(t *testing.T, method, target, userID, body string) response {
	t.Helper()
	h := webtest.Headers{Header: http.Header{}, Body: body}
	if body != "" {
		h.Header.Set("Content-Type", "application/json")
	}
	var c *http.Cookie
	if userID != "" {
		c = testkit.SignIn(t, userID)
	}
	return s.doWith(t, method, target, h, c)
}

// doWith sends h's body with h's headers, and the session cookie c, if any.
func (s *wired) doWith(t *testing.T, method, target string, h webtest.Headers, c *http.Cookie) response {
	t.Helper()
	r, err := s.send(method, target, h, c)
	require.NoError(t, err)
	return r
}

// send is doWith for goroutines other than the test's, which must not fail
// it.
func (s *wired) send(method, target string, h webtest.Headers, c *http.Cookie) (response, error) {
	r, err := webtest.Send(s.client, method, s.URL+target, h.Body, c, h.Set)
	return response{status: r.Status, header: r.Header, body: string(r.Body)}, err
}

// jsonText encodes v, with the keys of its maps sorted, for comparing
// events received as plain JSON with the expected wire format.
func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// wireOrderCreated is order:created decoded as plain JSON, to check what
// travels on the wire independently of package events' types.
type wireOrderCreated map[string]any

// Subject implements events.Event.
func (wireOrderCreated) Subject() events.Subject { return events.SubjectOrderCreated }

// wireOrderCancelled is order:cancelled decoded as plain JSON.
type wireOrderCancelled map[string]any

// Subject implements events.Event.
func (wireOrderCancelled) Subject() events.Subject { return events.SubjectOrderCancelled }
