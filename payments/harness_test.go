package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
	"ticketing.dev/payments/internal/charger"
	"ticketing.dev/payments/internal/listener"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
	"ticketing.dev/payments/internal/stripetest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

const stripeKey = "sk_test_123"

// ackWait is the shortest the bus allows, so that redeliveries come soon.
const ackWait = time.Second

// chargeTimeout is the charger's timeout in the tests, short so that an
// unanswered charge is given up soon.
const chargeTimeout = 500 * time.Millisecond

// start is the time the app's clock starts at.
var start = time.Date(2026, 11, 25, 14, 0, 0, 123_456_789, time.UTC)

// switchCharger charges through whichever real Stripe charger the test
// points it at, so that one test can see Stripe decline a card and then
// accept the next.
type switchCharger struct {
	current atomic.Pointer[charger.Stripe]
}

func (s *switchCharger) Charge(ctx context.Context, c payment.Claim, amountCents int64, currency string) (string, error) {
	return s.current.Load().Charge(ctx, c, amountCents, currency)
}

func (s *switchCharger) FindCharge(ctx context.Context, c payment.Claim) (string, error) {
	return s.current.Load().FindCharge(ctx, c)
}

func (s *switchCharger) Refund(ctx context.Context, chargeID, key string) (string, error) {
	return s.current.Load().Refund(ctx, chargeID, key)
}

// wired is the payments service started through its run, on a fresh
// database and a bus server of its own, with a clock the test moves, a
// short ack wait, and every handler's result recorded. Its Stripe is the
// real stripe-mock behind a recording proxy, until the test points it
// elsewhere.
type wired struct {
	// parts are the service's own store, reconciler (the test runs its
	// rounds; the service's own runs one at start, on the empty database,
	// then waits an hour) and metrics.
	parts
	url     string
	nats    embedded.Bus
	conn    *bus.Conn // publishes other services' events
	clock   *testkit.Clock
	stripe  *stripetest.Server // the recording proxy in front of stripe-mock
	charger *switchCharger
	logs    *testkit.Buffer // what the service logged
	handled testkit.Handled // what the listeners' handlers returned
}

func newApp(t *testing.T) *wired {
	t.Helper()
	n := testkit.NATS(t)
	a := &wired{nats: n, conn: testkit.Bus(t, n), clock: testkit.NewClock(start), charger: &switchCharger{}, logs: &testkit.Buffer{}}
	a.stripe = stripetest.Proxy(t, testkit.StripeMock(t))
	a.useStripe(t, a.stripe.URL)

	started := make(chan parts, 1)
	d := productionDeps()
	d.clock = a.clock.Now
	d.charger = func(settings, *slog.Logger, *metrics.Stripe) payment.Charger { return a.charger }
	d.ackWait = ackWait
	d.subjects = func(h *listener.Handlers) listener.Subjects { return recording{h, &a.handled} }
	d.started = func(p parts) { started <- p }
	env := testkit.ServiceEnv(testkit.MongoURI(t), n, map[string]string{
		"STRIPE_KEY":         stripeKey,
		"RECONCILE_INTERVAL": time.Hour.String(),
	})
	svc := testkit.StartService(t, func(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
		return runWith(ctx, getenv, stdout, d)
	}, env, testkit.Stdout(io.MultiWriter(a.logs, testkit.Output(t))))
	a.url = svc.URL
	a.parts = <-started
	return a
}

// useStripe points the app's charger at url.
func (a *wired) useStripe(t *testing.T, url string) {
	t.Helper()
	a.charger.current.Store(charger.New(stripeKey, testkit.Logger(t), charger.WithBaseURL(url), charger.WithTimeout(chargeTimeout)))
}

// recording is the service's handlers, recording what each returns.
type recording struct {
	*listener.Handlers
	handled *testkit.Handled
}

func (r recording) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	return r.handled.Record(e.Subject(), e.ID, r.Handlers.OrderCreated(ctx, e))
}

func (r recording) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	return r.handled.Record(e.Subject(), e.ID, r.Handlers.OrderCancelled(ctx, e))
}

// publish sends e over conn as the orders service would.
func publish[E events.Event](t *testing.T, conn *bus.Conn, e E) {
	t.Helper()
	testkit.Publish(t, conn, e)
}

// newOrder is an order:created for a new order of userID at price, placed
// at now with the orders service's default window of 15 minutes.
func newOrder(userID string, price events.Money, now time.Time) events.OrderCreated {
	return events.OrderCreated{
		ID:        newID(),
		Version:   0,
		Status:    events.StatusCreated,
		UserID:    userID,
		ExpiresAt: events.NewTime(now.Add(15 * time.Minute)),
		Ticket:    events.OrderTicket{ID: newID(), Price: price},
	}
}

// order is a new order placed at the app's time.
func (a *wired) order(userID string, price events.Money) events.OrderCreated {
	return newOrder(userID, price, a.clock.Now())
}

// created publishes e and waits until the replica holds it.
func (a *wired) created(t *testing.T, e events.OrderCreated) events.OrderCreated {
	t.Helper()
	publish(t, a.conn, e)
	a.waitVersion(t, e.ID, e.Version)
	return e
}

// cancelled publishes the order's cancellation and waits until it is applied.
func (a *wired) cancelled(t *testing.T, e events.OrderCreated) {
	t.Helper()
	publish(t, a.conn, events.OrderCancelled{ID: e.ID, Version: e.Version + 1, Ticket: events.TicketRef{ID: e.Ticket.ID}})
	a.waitVersion(t, e.ID, e.Version+1)
}

func (a *wired) waitVersion(t *testing.T, orderID string, version int64) {
	t.Helper()
	testkit.Eventually(t, func() bool {
		d, ok := a.replica(t, orderID)
		return ok && d.Version >= version
	}, "order %s never reached version %d in the replica", orderID, version)
}

// replicaDoc is an order replica as the database holds it.
type replicaDoc struct {
	ID        bson.ObjectID `bson:"_id"`
	UserID    string        `bson:"userId"`
	Status    string        `bson:"status"`
	Price     int64         `bson:"price"`
	Version   int64         `bson:"version"`
	ExpiresAt time.Time     `bson:"expiresAt"`
}

func (a *wired) replica(t *testing.T, orderID string) (replicaDoc, bool) {
	t.Helper()
	oid, err := bson.ObjectIDFromHex(orderID)
	require.NoError(t, err)
	var d replicaDoc
	err = a.db.Collection(paymentdb.OrdersCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: oid}}).Decode(&d)
	if err == mongo.ErrNoDocuments {
		return replicaDoc{}, false
	}
	require.NoError(t, err)
	return d, true
}

// paymentDoc is a payment as the database holds it.
type paymentDoc struct {
	ID          bson.ObjectID    `bson:"_id"`
	OrderID     string           `bson:"orderId"`
	Status      string           `bson:"status"`
	StripeID    string           `bson:"stripeId"`
	Token       string           `bson:"token"`
	Abandoned   bool             `bson:"abandoned"`
	CreatedAt   time.Time        `bson:"createdAt"`
	RefundingAt time.Time        `bson:"refundingAt"`
	RefundID    string           `bson:"refundId"`
	RefundedAt  time.Time        `bson:"refundedAt"`
	Outbox      []outbox.Message `bson:"outbox"`
}

// payments returns every payment document, claims included.
func (a *wired) payments(t *testing.T) []paymentDoc {
	t.Helper()
	cur, err := a.db.Collection(paymentdb.PaymentsCollection).Find(context.Background(), bson.D{})
	require.NoError(t, err)
	var docs []paymentDoc
	require.NoError(t, cur.All(context.Background(), &docs))
	return docs
}

// response is an HTTP answer as a test reads it.
type response struct {
	status int
	header http.Header
	body   []byte
}

// id decodes a payment's {id}.
func (r response) id(t *testing.T) string {
	t.Helper()
	var body struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(r.body, &body), "%s", r.body)
	return body.ID
}

// errors decodes the common error shape.
func (r response) errors(t *testing.T) []errs.Detail {
	t.Helper()
	return webtest.Errors(t, r.body)
}

// message is the single error message of the response.
func (r response) message(t *testing.T) string {
	t.Helper()
	errs := r.errors(t)
	require.Len(t, errs, 1, "%s", r.body)
	return errs[0].Message
}

// pay posts body to /api/payments as the user of cookie.
func (a *wired) pay(t *testing.T, cookie *http.Cookie, body string) response {
	t.Helper()
	r, err := post(a.url+"/api/payments", cookie, body)
	require.NoError(t, err)
	return r
}

// payFor pays for the order with token as the user of cookie.
func (a *wired) payFor(t *testing.T, cookie *http.Cookie, orderID, token string) response {
	t.Helper()
	return a.pay(t, cookie, fmt.Sprintf(`{"token":%q,"orderId":%q}`, token, orderID))
}

// get sends a GET of path as the user of cookie.
func (a *wired) get(t *testing.T, cookie *http.Cookie, path string) response {
	t.Helper()
	r, err := webtest.Send(nil, http.MethodGet, a.url+path, "", cookie, nil)
	require.NoError(t, err)
	return response{status: r.Status, header: r.Header, body: r.Body}
}

// post is safe to call from goroutines other than the test's.
func post(url string, cookie *http.Cookie, body string) (response, error) {
	return send(http.MethodPost, url, cookie, webtest.Headers{Header: http.Header{"Content-Type": {"application/json"}}, Body: body})
}

// send sends h's body with h's headers and the session cookie, if any.
func send(method, url string, cookie *http.Cookie, h webtest.Headers) (response, error) {
	r, err := webtest.Send(nil, method, url, h.Body, cookie, h.Set)
	return response{status: r.Status, header: r.Header, body: r.Body}, err
}

// newID returns an id as the services hand them out.
func newID() string { return bson.NewObjectID().Hex() }
