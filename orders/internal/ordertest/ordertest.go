// Package ordertest builds the orders service's parts on the real embedded
// servers of common/testkit, for the tests of the packages that use them.
package ordertest

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/session"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
)

// Window is the expiration window of the Env's service.
const Window = 15 * time.Minute

// Start is the time the Env's clock starts at; it has a sub-millisecond
// part, which the wire does not keep.
var Start = time.Date(2026, 11, 25, 14, 0, 0, 123_456_789, time.UTC)

// Env is the orders service's domain and storage on a fresh database, with
// its outbox relay publishing to a bus server of its own (testkit.NATS).
type Env struct {
	DB       *mongo.Database
	NATS     embedded.Bus
	Conn     *bus.Conn
	Store    *orderdb.Store
	Orders   *order.Service
	Clock    *testkit.Clock
	Sessions *session.Manager
	// Locks are the orders' locks the store and the relay share; a test
	// writing an order behind the store's back must hold them too, or
	// FerretDB may lose its write or the relay's.
	Locks *keylock.Locks
}

// Option configures an Env.
type Option func(*options)

type options struct {
	db *mongo.Database
}

// WithDB builds the Env on db instead of a fresh database of the shared
// client, such as one whose client monitors its commands.
func WithDB(db *mongo.Database) Option {
	return func(o *options) { o.db = db }
}

// New builds an Env, torn down when the test ends.
func New(t *testing.T, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.db == nil {
		o.db = testkit.DB(t)
	}
	n := testkit.NATS(t)
	conn := testkit.Bus(t, n)
	clock := testkit.NewClock(Start)
	locks := &keylock.Locks{}
	log := testkit.Logger(t)
	relay := outbox.NewRelay(o.db.Collection(orderdb.OrdersCollection), conn, locks, log)
	store := orderdb.New(o.db, locks, relay.Stored, orderdb.WithClock(clock.Now))
	require.NoError(t, store.EnsureIndexes(t.Context()))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = relay.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &Env{
		DB:       o.db,
		NATS:     n,
		Conn:     conn,
		Store:    store,
		Orders:   order.NewService(store, Window, order.WithClock(clock.Now)),
		Clock:    clock,
		Locks:    locks,
		Sessions: session.NewManager(JWTKey, time.Hour, false),
	}
}

// JWTKey is the key the Env's sessions are signed with.
var JWTKey = []byte("test-jwt-key-of-at-least-32-bytes")

// Cookie returns the session cookie of a signed-in user, as a Cookie
// request header value.
func (e *Env) Cookie(t *testing.T, userID string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	require.NoError(t, e.Sessions.SignIn(rec, userID, userID+"@test.dev"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	return cookies[0].Name + "=" + cookies[0].Value
}

// NewID returns a new id as the services hand them out.
func NewID() string { return bson.NewObjectID().Hex() }

// Ticket adds a ticket to the replica, as ticket:created would, and returns it.
func (e *Env) Ticket(t *testing.T, title string, price events.Money) order.Ticket {
	t.Helper()
	tk := order.Ticket{ID: NewID(), Title: title, Price: price}
	require.NoError(t, e.Orders.AddTicket(t.Context(), tk))
	return tk
}

// Received collects the events that arrive on one subject.
type Received[E events.Event] struct {
	ch chan E
}

// Subscribe starts collecting every event of type E published from now on,
// in a queue group of the test's own.
func Subscribe[E events.Event](t *testing.T, e *Env) *Received[E] {
	t.Helper()
	r := &Received[E]{ch: make(chan E, 100)}
	l := bus.NewListener(e.Conn, "test-"+NewID(), func(_ context.Context, ev E) error {
		r.ch <- ev
		return nil
	})
	require.NoError(t, l.Listen(t.Context()))
	return r
}

// Next waits up to 10 s for the next event.
func (r *Received[E]) Next(t *testing.T) E {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(10 * time.Second):
		var zero E
		t.Fatalf("no %s event received", zero.Subject())
		return zero
	}
}

// None checks that no event arrives for a while.
func (r *Received[E]) None(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(wait):
	}
}

// WireOrderCreated is order:created decoded as plain JSON, to check what
// travels on the wire independently of package events' types.
type WireOrderCreated map[string]any

// Subject implements events.Event.
func (WireOrderCreated) Subject() events.Subject { return events.SubjectOrderCreated }

// WireOrderCancelled is order:cancelled decoded as plain JSON.
type WireOrderCancelled map[string]any

// Subject implements events.Event.
func (WireOrderCancelled) Subject() events.Subject { return events.SubjectOrderCancelled }

// JSON encodes v, with the keys of its maps sorted, for comparing events
// received as plain JSON with the expected wire format.
func JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
