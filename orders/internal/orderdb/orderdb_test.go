package orderdb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
	"ticketing.dev/orders/internal/ordertest"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func oid(t *testing.T, id string) bson.ObjectID {
	t.Helper()
	o, err := bson.ObjectIDFromHex(id)
	require.NoError(t, err)
	return o
}

// claimHolder returns the order id the ticket's claim names, or "" when
// the ticket is not claimed.
func claimHolder(t *testing.T, env *ordertest.Env, ticketID string) string {
	t.Helper()
	var c struct {
		OrderID bson.ObjectID `bson:"orderId"`
	}
	err := env.DB.Collection(orderdb.ClaimsCollection).FindOne(context.Background(), bson.D{{Key: "_id", Value: oid(t, ticketID)}}).Decode(&c)
	if err != nil {
		return ""
	}
	return c.OrderID.Hex()
}

// setOrder writes fields of an order behind the store's back, under the
// order's lock as the store's own writes are.
func setOrder(t *testing.T, env *ordertest.Env, orderID string, fields bson.D) {
	t.Helper()
	defer env.Locks.Lock(orderID)()
	_, err := env.DB.Collection(orderdb.OrdersCollection).UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: oid(t, orderID)}},
		bson.D{{Key: "$set", Value: fields}})
	require.NoError(t, err)
}

// crashBeforeRelease marks an order cancelled without releasing its claim,
// as a crash between the two writes of a cancellation would leave it.
func crashBeforeRelease(t *testing.T, env *ordertest.Env, orderID string) {
	t.Helper()
	setOrder(t, env, orderID, bson.D{{Key: "status", Value: events.StatusCancelled}, {Key: "version", Value: int64(1)}})
}

// place places an order for the ticket as buyer, as a precondition.
func place(t *testing.T, env *ordertest.Env, buyer, ticketID string) order.View {
	t.Helper()
	v, err := env.Orders.Place(t.Context(), buyer, ticketID)
	require.NoError(t, err)
	return v
}

// assertPlaceClaims places an order for the ticket as buyer and checks
// that the order holds the ticket's claim.
func assertPlaceClaims(t *testing.T, env *ordertest.Env, buyer, ticketID string) {
	t.Helper()
	v, err := env.Orders.Place(t.Context(), buyer, ticketID)
	require.NoError(t, err)
	assert.Equal(t, v.ID, claimHolder(t, env, ticketID))
}

func TestCreate_ClaimsTheTicketForTheOrder(t *testing.T) {
	env := ordertest.New(t)
	tk := env.Ticket(t, "concert", 1000)

	assertPlaceClaims(t, env, "buyer", tk.ID)
}

func TestCreate_RecoversTheClaimOfACancelledOrder(t *testing.T) {
	env := ordertest.New(t)
	tk := env.Ticket(t, "concert", 1000)
	crashBeforeRelease(t, env, place(t, env, "first", tk.ID).ID)

	assertPlaceClaims(t, env, "second", tk.ID)
}

func TestCreate_RecoversAClaimWhoseOrderWasNeverStoredOnceItIsStale(t *testing.T) {
	env := ordertest.New(t)
	tk := env.Ticket(t, "concert", 1000)
	_, err := env.DB.Collection(orderdb.ClaimsCollection).InsertOne(t.Context(), bson.D{
		{Key: "_id", Value: oid(t, tk.ID)},
		{Key: "orderId", Value: bson.NewObjectID()},
		{Key: "createdAt", Value: env.Clock.Now()},
	})
	require.NoError(t, err)

	// Young, it may be an order being placed right now.
	_, err = env.Orders.Place(t.Context(), "buyer", tk.ID)
	require.ErrorIs(t, err, order.ErrReserved)

	env.Clock.Advance(orderdb.DefaultStaleClaim + time.Second)

	assertPlaceClaims(t, env, "buyer", tk.ID)
}

func TestCreate_ConcurrentBuyersOfAStaleClaimGetOneOrder(t *testing.T) {
	env := ordertest.New(t)
	for round := range 3 {
		tk := env.Ticket(t, fmt.Sprint("round ", round), 1000)
		crashBeforeRelease(t, env, place(t, env, "first", tk.ID).ID)

		const buyers = 10
		errc := make(chan error, buyers)
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Go(func() {
				_, err := env.Orders.Place(context.Background(), fmt.Sprint("buyer-", i), tk.ID)
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
		n, err := env.DB.Collection(orderdb.OrdersCollection).CountDocuments(t.Context(), bson.D{
			{Key: "ticketId", Value: oid(t, tk.ID)},
			{Key: "status", Value: events.StatusCreated},
		})
		require.NoError(t, err)
		assert.EqualValues(t, 1, n, "round %d", round)
	}
}

func TestUpdate_CancellingReleasesTheClaim(t *testing.T) {
	env := ordertest.New(t)
	tk := env.Ticket(t, "concert", 1000)
	v := place(t, env, "buyer", tk.ID)

	_, err := env.Orders.Cancel(t.Context(), "buyer", v.ID)

	require.NoError(t, err)
	assert.Empty(t, claimHolder(t, env, tk.ID))
}

func TestUpdate_CancellingAgainReleasesAClaimLeftBehind(t *testing.T) {
	env := ordertest.New(t)
	tk := env.Ticket(t, "concert", 1000)
	v := place(t, env, "buyer", tk.ID)
	crashBeforeRelease(t, env, v.ID)

	o, err := env.Orders.Expire(t.Context(), v.ID)

	require.NoError(t, err)
	assert.EqualValues(t, 1, o.Version)
	assert.Empty(t, claimHolder(t, env, tk.ID))
}

func TestUpdate_ConcurrentExpirationsCancelOnce(t *testing.T) {
	env := ordertest.New(t)
	created := ordertest.Subscribe[events.OrderCreated](t, env)
	v := place(t, env, "buyer", env.Ticket(t, "concert", 1000).ID)
	created.Next(t)
	cancelled := ordertest.Subscribe[events.OrderCancelled](t, env)
	env.Clock.Advance(ordertest.Window)

	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := env.Orders.Expire(context.Background(), v.ID)
			assert.NoError(t, err)
		})
	}
	wg.Wait()

	got, err := env.Store.Order(t.Context(), v.ID)
	require.NoError(t, err)
	assert.Equal(t, events.StatusCancelled, got.Status)
	assert.EqualValues(t, 1, got.Version)
	assert.EqualValues(t, 1, cancelled.Next(t).Version)
	cancelled.None(t, 300*time.Millisecond)
}

func TestUpdate_UnknownOrderIsErrNotFound(t *testing.T) {
	env := ordertest.New(t)
	_, err := env.Store.Update(t.Context(), ordertest.NewID(), order.Expire(ordertest.Start))
	assert.ErrorIs(t, err, order.ErrNotFound)
}

func TestStore_MalformedIDsAreErrInvalidID(t *testing.T) {
	env := ordertest.New(t)
	ctx := t.Context()
	_, err := env.Store.Order(ctx, "nope")
	assert.ErrorIs(t, err, order.ErrInvalidID)
	_, err = env.Store.Update(ctx, "nope", order.Expire(ordertest.Start))
	assert.ErrorIs(t, err, order.ErrInvalidID)
	_, err = env.Store.Ticket(ctx, "nope")
	assert.ErrorIs(t, err, order.ErrInvalidID)
	assert.ErrorIs(t, env.Store.AddTicket(ctx, order.Ticket{ID: "nope"}), order.ErrInvalidID)
	assert.ErrorIs(t, env.Store.UpdateTicket(ctx, order.Ticket{ID: "nope", Version: 1}), order.ErrInvalidID)
}

// TestUpdateTicket_ConcurrentVersionsApplyInOrder delivers ten versions of a
// ticket at once, each retried until applied, as redelivery would: every
// one is applied exactly after its predecessor.
func TestUpdateTicket_ConcurrentVersionsApplyInOrder(t *testing.T) {
	env := ordertest.New(t)
	tk := env.Ticket(t, "v0", 100)
	const versions = 10
	var wg sync.WaitGroup
	for v := int64(versions); v >= 1; v-- {
		wg.Go(func() {
			for {
				err := env.Store.UpdateTicket(context.Background(), order.Ticket{ID: tk.ID, Title: fmt.Sprint("v", v), Price: events.Money(100 + v), Version: v})
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

	got, err := env.Store.Ticket(t.Context(), tk.ID)
	require.NoError(t, err)
	assert.Equal(t, order.Ticket{ID: tk.ID, Title: "v10", Price: 110, Version: versions}, got)
}

func TestEnsureIndexes_IsIdempotent(t *testing.T) {
	env := ordertest.New(t)
	assert.NoError(t, env.Store.EnsureIndexes(t.Context()))
}

// setStatus writes an order's status behind the store's back, as no API
// does for awaiting:payment.
func setStatus(t *testing.T, env *ordertest.Env, orderID string, status events.OrderStatus) {
	t.Helper()
	setOrder(t, env, orderID, bson.D{{Key: "status", Value: status}})
}

func TestOverdue_FindsUnpaidActiveOrdersExpiredBeforeTheTimeEarliestFirst(t *testing.T) {
	env := ordertest.New(t)
	next := func() order.View {
		t.Helper()
		v := place(t, env, "buyer", env.Ticket(t, "concert", 1000).ID)
		env.Clock.Advance(time.Second)
		return v
	}
	created, awaiting, paid, cancelled, later, last := next(), next(), next(), next(), next(), next()
	setStatus(t, env, awaiting.ID, events.StatusAwaitingPayment)
	_, err := env.Orders.Pay(t.Context(), paid.ID)
	require.NoError(t, err)
	_, err = env.Orders.Cancel(t.Context(), "buyer", cancelled.ID)
	require.NoError(t, err)

	// later expires exactly at the time asked about: it is not before it.
	ids, err := env.Store.Overdue(t.Context(), later.ExpiresAt, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{created.ID, awaiting.ID}, ids)

	ids, err = env.Store.Overdue(t.Context(), last.ExpiresAt.Add(time.Millisecond), 3)
	require.NoError(t, err)
	assert.Equal(t, []string{created.ID, awaiting.ID, later.ID}, ids, "a limited batch holds the earliest")
}
