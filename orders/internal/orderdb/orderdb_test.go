package orderdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// fixture is the store on a fresh database and the order service over it,
// both on a clock the test moves. No relay runs: the events the store
// stores are recorded as the relay would be handed them.
type fixture struct {
	db     *mongo.Database
	store  *orderdb.Store
	orders *order.Service
	clock  *testkit.Clock
	// locks are the orders' locks, which the store shares with the relay;
	// a test writing an order behind the store's back must hold them too,
	// or FerretDB may lose its write or the store's.
	locks *keylock.Locks
	relay *outboxtest.Handoff
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, testkit.DB(t))
}

// newFixtureOn is newFixture on db.
func newFixtureOn(t *testing.T, db *mongo.Database) *fixture {
	t.Helper()
	f := &fixture{
		db:    db,
		clock: testkit.NewClock(time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)),
		locks: &keylock.Locks{},
		relay: new(outboxtest.Handoff),
	}
	f.store = orderdb.New(f.db, f.locks, f.relay, orderdb.WithClock(f.clock.Now))
	require.NoError(t, f.store.EnsureIndexes(t.Context()))
	f.orders = order.NewService(f.store, order.DefaultWindow, order.WithClock(f.clock.Now))
	return f
}

// ticket adds a ticket to the replica, as ticket:created would, and
// returns it.
func (f *fixture) ticket(t *testing.T, title string, price events.Money) order.Ticket {
	t.Helper()
	tk := order.Ticket{ID: bson.NewObjectID().Hex(), Title: title, Price: price}
	require.NoError(t, f.store.AddTicket(t.Context(), tk))
	return tk
}

// cancellations returns the order:cancelled events the store handed to
// the relay for the order.
func (f *fixture) cancellations(t *testing.T, orderID string) []events.OrderCancelled {
	t.Helper()
	var out []events.OrderCancelled
	for _, m := range f.relay.Messages(orderID) {
		if m.Subject != string(events.SubjectOrderCancelled) {
			continue
		}
		var e events.OrderCancelled
		require.NoError(t, json.Unmarshal(m.Data, &e))
		out = append(out, e)
	}
	return out
}

func oid(t *testing.T, id string) bson.ObjectID {
	t.Helper()
	o, err := bson.ObjectIDFromHex(id)
	require.NoError(t, err)
	return o
}

// claimHolder returns the order id the ticket's claim names, or "" when
// the ticket is not claimed.
func claimHolder(t *testing.T, f *fixture, ticketID string) string {
	t.Helper()
	var c struct {
		OrderID bson.ObjectID `bson:"orderId"`
	}
	err := f.db.Collection(orderdb.ClaimsCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: oid(t, ticketID)}}).Decode(&c)
	if err != nil {
		return ""
	}
	return c.OrderID.Hex()
}

// setOrder writes fields of an order behind the store's back, under the
// order's lock as the store's own writes are.
func setOrder(t *testing.T, f *fixture, orderID string, fields bson.D) {
	t.Helper()
	defer f.locks.Lock(orderID)()
	_, err := f.db.Collection(orderdb.OrdersCollection).UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: oid(t, orderID)}},
		bson.D{{Key: "$set", Value: fields}})
	require.NoError(t, err)
}

// crashBeforeRelease marks an order cancelled without releasing its claim,
// as a crash between the two writes of a cancellation would leave it.
func crashBeforeRelease(t *testing.T, f *fixture, orderID string) {
	t.Helper()
	setOrder(t, f, orderID, bson.D{{Key: "status", Value: events.StatusCancelled}, {Key: "version", Value: int64(1)}})
}

// place places an order for the ticket as buyer, as a precondition.
func place(t *testing.T, f *fixture, buyer, ticketID string) order.View {
	t.Helper()
	v, err := f.orders.Place(t.Context(), buyer, ticketID)
	require.NoError(t, err)
	return v
}

// assertPlaceClaims places an order for the ticket as buyer and checks
// that the order holds the ticket's claim.
func assertPlaceClaims(t *testing.T, f *fixture, buyer, ticketID string) {
	t.Helper()
	v, err := f.orders.Place(t.Context(), buyer, ticketID)
	require.NoError(t, err)
	assert.Equal(t, v.ID, claimHolder(t, f, ticketID))
}

func TestCreate_ClaimsTheTicketForTheOrder(t *testing.T) {
	f := newFixture(t)
	tk := f.ticket(t, "concert", 1000)

	assertPlaceClaims(t, f, "buyer", tk.ID)
}

func TestCreate_RecoversTheClaimOfACancelledOrder(t *testing.T) {
	f := newFixture(t)
	tk := f.ticket(t, "concert", 1000)
	crashBeforeRelease(t, f, place(t, f, "first", tk.ID).ID)

	assertPlaceClaims(t, f, "second", tk.ID)
}

func TestCreate_RecoversAClaimWhoseOrderWasNeverStoredOnceItIsStale(t *testing.T) {
	f := newFixture(t)
	tk := f.ticket(t, "concert", 1000)
	_, err := f.db.Collection(orderdb.ClaimsCollection).InsertOne(t.Context(), bson.D{
		{Key: "_id", Value: oid(t, tk.ID)},
		{Key: "orderId", Value: bson.NewObjectID()},
		{Key: "createdAt", Value: f.clock.Now()},
	})
	require.NoError(t, err)

	// Young, it may be an order being placed right now.
	_, err = f.orders.Place(t.Context(), "buyer", tk.ID)
	require.ErrorIs(t, err, order.ErrReserved)

	f.clock.Advance(orderdb.DefaultStaleClaim + time.Second)

	assertPlaceClaims(t, f, "buyer", tk.ID)
}

func TestCreate_ConcurrentBuyersOfAStaleClaimGetOneOrder(t *testing.T) {
	f := newFixture(t)
	for round := range 3 {
		tk := f.ticket(t, fmt.Sprint("round ", round), 1000)
		crashBeforeRelease(t, f, place(t, f, "first", tk.ID).ID)

		const buyers = 10
		errc := make(chan error, buyers)
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Go(func() {
				_, err := f.orders.Place(context.Background(), fmt.Sprint("buyer-", i), tk.ID)
				errc <- err
			})
		}
		wg.Wait()
		close(errc)

		won := 0
		for err := range errc {
			if err == nil {
				won++
				continue
			}
			assert.ErrorIs(t, err, order.ErrReserved)
		}
		assert.Equal(t, 1, won, "round %d", round)
		n, err := f.db.Collection(orderdb.OrdersCollection).CountDocuments(t.Context(), bson.D{
			{Key: "ticketId", Value: oid(t, tk.ID)},
			{Key: "status", Value: events.StatusCreated},
		})
		require.NoError(t, err)
		assert.EqualValues(t, 1, n, "round %d", round)
	}
}

func TestUpdate_CancellingReleasesTheClaim(t *testing.T) {
	f := newFixture(t)
	tk := f.ticket(t, "concert", 1000)
	v := place(t, f, "buyer", tk.ID)

	_, err := f.orders.Cancel(t.Context(), "buyer", v.ID)

	require.NoError(t, err)
	assert.Empty(t, claimHolder(t, f, tk.ID))
}

func TestUpdate_CancellingAgainReleasesAClaimLeftBehind(t *testing.T) {
	f := newFixture(t)
	tk := f.ticket(t, "concert", 1000)
	v := place(t, f, "buyer", tk.ID)
	crashBeforeRelease(t, f, v.ID)

	o, err := f.orders.Expire(t.Context(), v.ID)

	require.NoError(t, err)
	assert.EqualValues(t, 1, o.Version)
	assert.Empty(t, claimHolder(t, f, tk.ID))
}

// TestUpdate_ConcurrentExpirationsCancelOnce expires an order ten times at
// once: it is cancelled once, and the store hands the relay one
// order:cancelled.
func TestUpdate_ConcurrentExpirationsCancelOnce(t *testing.T) {
	f := newFixture(t)
	v := place(t, f, "buyer", f.ticket(t, "concert", 1000).ID)
	f.clock.Advance(order.DefaultWindow)

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := f.orders.Expire(context.Background(), v.ID)
			assert.NoError(t, err)
		})
	}
	wg.Wait()

	got, err := f.store.Order(t.Context(), v.ID)
	require.NoError(t, err)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.Equal(t, []events.OrderCancelled{{ID: v.ID, Version: 1, Ticket: events.TicketRef{ID: v.TicketID}}}, f.cancellations(t, v.ID))
}

// TestCreateAndCancel_FailedWriteAsksTheRelayToLook drops the order's
// insert, then its cancellation, on their way to the server: the client
// cannot tell such a write from one the server applied, so the store asks
// the relay to look and hands it no event; the failed insert also gives
// the ticket's claim up.
func TestCreateAndCancel_FailedWriteAsksTheRelayToLook(t *testing.T) {
	db, faults := testkit.FaultyDB(t)
	f := newFixtureOn(t, db)
	tk := f.ticket(t, "concert", 1000)

	faults.Drop("insert", orderdb.OrdersCollection)
	_, err := f.orders.Place(t.Context(), "buyer", tk.ID)
	require.ErrorIs(t, err, testkit.ErrDropped)
	assert.Equal(t, 1, f.relay.Notified(), "after a failed insert")
	assert.Empty(t, claimHolder(t, f, tk.ID), "the claim is given up")
	faults.Heal()

	v := place(t, f, "buyer", tk.ID)
	faults.Drop("update", orderdb.OrdersCollection)
	_, err = f.orders.Cancel(t.Context(), "buyer", v.ID)
	require.ErrorIs(t, err, testkit.ErrDropped)
	assert.Equal(t, 2, f.relay.Notified(), "after a failed cancellation")
	assert.Empty(t, f.cancellations(t, v.ID), "no event handed over")
	assert.Equal(t, 2, faults.Dropped())
}

func TestUpdate_UnknownOrderIsErrNotFound(t *testing.T) {
	f := newFixture(t)
	_, err := f.store.Update(t.Context(), bson.NewObjectID().Hex(), order.Expire(f.clock.Now()))
	assert.ErrorIs(t, err, order.ErrNotFound)
}

func TestStore_MalformedIDsAreErrInvalidID(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	_, err := f.store.Order(ctx, "nope")
	assert.ErrorIs(t, err, order.ErrInvalidID)
	_, err = f.store.Update(ctx, "nope", order.Expire(f.clock.Now()))
	assert.ErrorIs(t, err, order.ErrInvalidID)
	_, err = f.store.Ticket(ctx, "nope")
	assert.ErrorIs(t, err, order.ErrInvalidID)
	assert.ErrorIs(t, f.store.AddTicket(ctx, order.Ticket{ID: "nope"}), order.ErrInvalidID)
	assert.ErrorIs(t, f.store.UpdateTicket(ctx, order.Ticket{ID: "nope", Version: 1}), order.ErrInvalidID)
}

// TestUpdateTicket_ConcurrentVersionsApplyInOrder delivers ten versions of a
// ticket at once, each retried until applied, as redelivery would: every
// one is applied exactly after its predecessor.
func TestUpdateTicket_ConcurrentVersionsApplyInOrder(t *testing.T) {
	f := newFixture(t)
	tk := f.ticket(t, "v0", 100)
	const versions = 10
	var wg sync.WaitGroup
	for v := int64(versions); v >= 1; v-- {
		wg.Go(func() {
			for {
				err := f.store.UpdateTicket(context.Background(), order.Ticket{ID: tk.ID, Title: fmt.Sprint("v", v), Price: events.Money(100 + v), Version: v})
				if !errors.Is(err, order.ErrTicketBehind) {
					assert.NoError(t, err)
					return
				}
				// A pause between tries, as between redeliveries, rather
				// than a spin against the database.
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()

	got, err := f.store.Ticket(t.Context(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, order.Ticket{ID: tk.ID, Title: "v10", Price: 110, Version: versions}, got)
}

func TestEnsureIndexes_IsIdempotent(t *testing.T) {
	f := newFixture(t)
	assert.NoError(t, f.store.EnsureIndexes(t.Context()))
}

// setStatus writes an order's status behind the store's back, as no API
// does for awaiting:payment.
func setStatus(t *testing.T, f *fixture, orderID string, status events.OrderStatus) {
	t.Helper()
	setOrder(t, f, orderID, bson.D{{Key: "status", Value: status}})
}

func TestOverdue_FindsUnpaidActiveOrdersExpiredBeforeTheTimeEarliestFirst(t *testing.T) {
	f := newFixture(t)
	next := func() order.View {
		t.Helper()
		v := place(t, f, "buyer", f.ticket(t, "concert", 1000).ID)
		f.clock.Advance(time.Second)
		return v
	}
	created, awaiting, paid, cancelled, later, last := next(), next(), next(), next(), next(), next()
	setStatus(t, f, awaiting.ID, events.StatusAwaitingPayment)
	_, err := f.orders.Pay(t.Context(), paid.ID)
	require.NoError(t, err)
	_, err = f.orders.Cancel(t.Context(), "buyer", cancelled.ID)
	require.NoError(t, err)

	// later expires exactly at the time asked about: it is not before it.
	ids, err := f.store.Overdue(t.Context(), later.ExpiresAt, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{created.ID, awaiting.ID}, ids)

	ids, err = f.store.Overdue(t.Context(), last.ExpiresAt.Add(time.Millisecond), 3)
	require.NoError(t, err)
	assert.Equal(t, []string{created.ID, awaiting.ID, later.ID}, ids, "a limited batch holds the earliest")
}
