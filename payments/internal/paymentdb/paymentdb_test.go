package paymentdb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// fixture is the store on a database of the test's, holding one order
// and the events the store hands over, at a time the test chooses.
type fixture struct {
	db    *mongo.Database
	store *paymentdb.Store
	relay *outboxtest.Handoff
	order payment.Order
	now   time.Time
}

func newFixture(t *testing.T, db *mongo.Database) *fixture {
	t.Helper()
	f := &fixture{db: db, relay: new(outboxtest.Handoff), now: time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)}
	f.store = paymentdb.New(db, new(keylock.Locks), f.relay)
	require.NoError(t, f.store.EnsureIndexes(t.Context()))
	f.order = payment.Order{ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 1500, ExpiresAt: f.now.Add(15 * time.Minute)}
	require.NoError(t, f.store.AddOrder(t.Context(), f.order))
	return f
}

// claim claims the order at at with token, taking over a claim made
// before staleBefore.
func (f *fixture) claim(t *testing.T, token string, at, staleBefore time.Time) payment.Claim {
	t.Helper()
	c, err := f.store.Claim(t.Context(), payment.Claim{OrderID: f.order.ID, Token: token, ClaimedAt: at}, staleBefore)
	require.NoError(t, err)
	return c
}

// paid claims the order now and completes the claim with stripeID.
func (f *fixture) paid(t *testing.T, stripeID string) payment.Payment {
	t.Helper()
	p, err := f.store.Complete(t.Context(), f.claim(t, "tok_visa", f.now, f.now), stripeID)
	require.NoError(t, err)
	return p
}

// storedPayment is what the tests read of a payment document.
type storedPayment struct {
	Abandoned bool       `bson:"abandoned"`
	Outbox    []bson.Raw `bson:"outbox"`
}

// payments returns every payment document, claims included.
func (f *fixture) payments(t *testing.T) []storedPayment {
	t.Helper()
	cur, err := f.db.Collection(paymentdb.PaymentsCollection).Find(t.Context(), bson.D{})
	require.NoError(t, err)
	var docs []storedPayment
	require.NoError(t, cur.All(t.Context(), &docs))
	return docs
}

// TestComplete_FailedWriteAsksTheRelayToLook drops a payment's completion
// on its way to the server: the client cannot tell such a write from one
// the server applied, so the store asks the relay to look and hands it no
// event. Completed again, the payment's event is handed over once.
func TestComplete_FailedWriteAsksTheRelayToLook(t *testing.T) {
	db, faults := testkit.FaultyDB(t)
	f := newFixture(t, db)
	c := f.claim(t, "tok_visa", f.now, f.now)

	faults.Drop("update", paymentdb.PaymentsCollection)
	_, err := f.store.Complete(t.Context(), c, "ch_1")
	require.ErrorIs(t, err, testkit.ErrDropped)
	assert.Equal(t, 1, f.relay.Notified())
	assert.Empty(t, f.relay.Messages(c.ID), "no event handed over")

	faults.Heal()
	p, err := f.store.Complete(t.Context(), c, "ch_1")
	require.NoError(t, err)
	assert.Equal(t, payment.StatusSucceeded, p.Status)
	assert.Len(t, f.relay.Messages(c.ID), 1)
	assert.Equal(t, 1, f.relay.Notified(), "a write that succeeded asks for no look")
}

// What a holder that lost its claim may still do, and what racing
// holders may do.

func TestClaim_HolderThatLostItsClaimCannotReleaseOrAbandonIt(t *testing.T) {
	f := newFixture(t, testkit.DB(t))
	ctx := t.Context()
	first := f.claim(t, "tok_visa", f.now, f.now)
	later := f.now.Add(2 * time.Minute)
	second := f.claim(t, "tok_other", later, later.Add(-time.Minute))
	require.Equal(t, first.ID, second.ID, "taken over, not replaced")
	assert.Equal(t, "tok_visa", second.Token, "the taken-over claim charges its own token")

	require.NoError(t, f.store.Release(ctx, first))
	require.NoError(t, f.store.Abandon(ctx, first))

	docs := f.payments(t)
	require.Len(t, docs, 1, "the new holder's claim stays")
	assert.False(t, docs[0].Abandoned)

	require.NoError(t, f.store.Release(ctx, second))
	assert.Empty(t, f.payments(t))
}

func TestComplete_ClaimCompletedByItsNewHolderIsReturnedAsItIs(t *testing.T) {
	f := newFixture(t, testkit.DB(t))
	c := f.claim(t, "tok_visa", f.now, f.now)
	p, err := f.store.Complete(t.Context(), c, "ch_first")
	require.NoError(t, err)

	again, err := f.store.Complete(t.Context(), c, "ch_first")

	require.NoError(t, err)
	assert.Equal(t, p, again)
	docs := f.payments(t)
	require.Len(t, docs, 1)
	assert.Len(t, docs[0].Outbox, 1, "payment:created stored once")
}

func TestClaim_PaidOrderIsErrAlreadyPaidEvenWhenItsClaimWouldBeStale(t *testing.T) {
	f := newFixture(t, testkit.DB(t))
	f.paid(t, "ch_1")

	later := f.now.Add(time.Hour)
	_, err := f.store.Claim(t.Context(), payment.Claim{OrderID: f.order.ID, Token: "tok_visa", ClaimedAt: later}, later)

	assert.ErrorIs(t, err, payment.ErrAlreadyPaid)
}

func TestClaimRefund_OfRacingHoldersExactlyOneWins(t *testing.T) {
	f := newFixture(t, testkit.DB(t))
	p := f.paid(t, "ch_1")
	const racers = 8

	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { _, errs[i] = f.store.ClaimRefund(context.Background(), p.ID, f.now, f.now.Add(-time.Minute)) })
	}
	wg.Wait()

	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		assert.ErrorIs(t, err, payment.ErrRefundInProgress)
	}
	assert.Equal(t, 1, won)
}

// TestCommandShapes pins the commands of the store's operations that the
// floor of infra/bench copies, called as the service calls them
// (docs/bench/method.md).
func TestCommandShapes(t *testing.T) {
	db, rec := testkit.RecordCommands(t)
	ctx, request := t.Context(), testkit.Request(t)
	s := paymentdb.New(db, new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(t, s.EnsureIndexes(ctx))
	now := time.Now()

	o := payment.Order{ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 2000, ExpiresAt: now.Add(15 * time.Minute)}
	rec.Run(t, "AddOrder (order:created)", func() error { return s.AddOrder(ctx, o) })
	rec.Run(t, "Order (POST /api/payments)", func() (err error) {
		o, err = s.Order(request, o.ID)
		return err
	})
	var c payment.Claim
	rec.Run(t, "Claim (POST /api/payments)", func() (err error) {
		c, err = s.Claim(request, payment.Claim{OrderID: o.ID, Token: "tok_visa", ClaimedAt: now}, now.Add(-time.Minute))
		return err
	})
	rec.Run(t, "Complete (POST /api/payments, charged)", func() error {
		_, err := s.Complete(request, c, "ch_1")
		return err
	})

	o = payment.Order{ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 2000, ExpiresAt: now.Add(15 * time.Minute)}
	require.NoError(t, s.AddOrder(ctx, o))
	rec.Run(t, "CancelOrder (order:cancelled)", func() error { return s.CancelOrder(ctx, o.ID, o.Version+1, now) })
	rec.Golden(t, "testdata/commands.golden")
}

// The benchmarks time the store's hot writes, one caller at a time, on the
// embedded FerretDB of the tests; docs/performance.md says how to run them.

func benchStore(b *testing.B) *paymentdb.Store {
	b.Helper()
	s := paymentdb.New(testkit.DB(b), new(keylock.Locks), new(outboxtest.Handoff))
	require.NoError(b, s.EnsureIndexes(b.Context()))
	return s
}

// BenchmarkAddOrder inserts an order replica, as order:created does.
func BenchmarkAddOrder(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		require.NoError(b, s.AddOrder(b.Context(), payment.Order{
			ID: bson.NewObjectID().Hex(), UserID: "buyer", Status: events.StatusCreated, Price: 2000, ExpiresAt: time.Now().Add(15 * time.Minute),
		}))
	}
}

// BenchmarkClaim inserts the pending payment that claims an order, the
// first write of a payment.
func BenchmarkClaim(b *testing.B) {
	s := benchStore(b)
	for b.Loop() {
		_, err := s.Claim(b.Context(), payment.Claim{OrderID: bson.NewObjectID().Hex(), Token: "tok_visa", ClaimedAt: time.Now()}, time.Now().Add(-time.Minute))
		require.NoError(b, err)
	}
}
