// Package paymentdb keeps order replicas and payments in MongoDB. It is the
// only package of the payments service that knows the driver: its errors
// are translated into the payment package's before they leave.
//
// # One payment per order
//
// FerretDB, the embedded server of the tests and the local stack, applies
// neither conditional updates nor deletes atomically; what it does
// guarantee, even under concurrency, is that an insert violating a unique
// index fails with a duplicate key error. A payment therefore claims its
// order by inserting a pending document into the payments collection, whose
// orderId is unique: of any number of racing requests exactly one insert
// succeeds. Order ids are stored in their canonical lower-case form, so
// that an id spelt in upper case cannot claim the same order a second time.
//
// Every later write of a payment document — taking a claim over, marking it
// succeeded, releasing or abandoning it, and the outbox relay's removal of
// its published event — holds the document's lock from the keylock shared
// with the relay, and still filters on the state it expects: the lock
// orders the writers of one process, the filter those of several processes
// on real MongoDB.
//
// # Refunds
//
// A charge to refund moves its document to refunding — from pending when
// its order was no longer payable as the charge returned, from succeeded
// when the order's cancellation came after — stamped with refundingAt, and
// then to refunded with the refund's id. Those moves hold the document's
// lock and filter on the status they expect, so that of the paths that
// may want a refund (the payment's own, the order:cancelled listener, the
// reconciler) exactly one makes the move, and only it calls Stripe.
//
// # Outbox
//
// A payment's payment:created is pushed to the outbox.Field array of its
// document by the very update that marks it succeeded; an outbox.Relay
// publishes it.
package paymentdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/internal/payment"
)

// The collections of the payments database.
const (
	// OrdersCollection holds the replicas of the orders service's orders.
	OrdersCollection = "orders"
	// PaymentsCollection holds the payments, pending and succeeded, and
	// their pending events; the outbox relay reads it.
	PaymentsCollection = "payments"
)

// The statuses of a payment document, those of payment.Status.
const (
	StatusPending   = string(payment.StatusPending)
	StatusSucceeded = string(payment.StatusSucceeded)
	StatusRefunding = string(payment.StatusRefunding)
	StatusRefunded  = string(payment.StatusRefunded)
)

// claimAttempts bounds how often Claim tries again when the claim it ran
// into disappears before it can look at it.
const claimAttempts = 3

// orderDoc is an order replica as stored; its _id is the order's id in the
// orders service.
type orderDoc struct {
	ID        bson.ObjectID      `bson:"_id"`
	UserID    string             `bson:"userId"`
	Status    events.OrderStatus `bson:"status"`
	Price     int64              `bson:"price"` // cents
	Version   int64              `bson:"version"`
	ExpiresAt time.Time          `bson:"expiresAt"`
	// CancelledAt is when the replica's cancellation was applied, by this
	// service's clock; the reconciler looks for payments of orders
	// cancelled lately.
	CancelledAt time.Time `bson:"cancelledAt,omitempty"`
}

func (d orderDoc) order() payment.Order {
	return payment.Order{
		ID:        d.ID.Hex(),
		UserID:    d.UserID,
		Status:    d.Status,
		Price:     events.Money(d.Price),
		Version:   d.Version,
		ExpiresAt: d.ExpiresAt.UTC(),
	}
}

// paymentDoc is a payment or a claim as stored. The fields of a claim
// (token, claimedAt, abandoned) are removed when it is charged, that of a
// refund under way (refundingAt) when it is refunded.
type paymentDoc struct {
	ID          bson.ObjectID `bson:"_id"`
	OrderID     string        `bson:"orderId"`
	Status      string        `bson:"status"`
	StripeID    string        `bson:"stripeId,omitempty"`
	CreatedAt   time.Time     `bson:"createdAt"`
	Token       string        `bson:"token,omitempty"`
	ClaimedAt   time.Time     `bson:"claimedAt,omitempty"`
	Abandoned   bool          `bson:"abandoned,omitempty"`
	RefundingAt time.Time     `bson:"refundingAt,omitempty"`
	RefundID    string        `bson:"refundId,omitempty"`
	RefundedAt  time.Time     `bson:"refundedAt,omitempty"`
}

func (d paymentDoc) payment() payment.Payment {
	p := payment.Payment{
		ID:       d.ID.Hex(),
		OrderID:  d.OrderID,
		StripeID: d.StripeID,
		Status:   payment.Status(d.Status),
		RefundID: d.RefundID,
	}
	if !d.RefundedAt.IsZero() {
		p.RefundedAt = d.RefundedAt.UTC()
	}
	return p
}

func (d paymentDoc) claim() payment.Claim {
	return payment.Claim{ID: d.ID.Hex(), OrderID: d.OrderID, Token: d.Token, ClaimedAt: d.ClaimedAt.UTC(), CreatedAt: d.CreatedAt.UTC()}
}

// Store is a payment.Store on a MongoDB database.
type Store struct {
	orders, payments *mongo.Collection
	guard            *mongodb.Guard

	// paymentLocks serialise the writes of one payment document; they are
	// shared with the outbox relay, which takes them to remove published
	// events.
	paymentLocks *keylock.Locks
	// orderLocks serialise the updates of one order replica.
	orderLocks keylock.Locks

	relay outbox.Handoff
}

var _ payment.Store = (*Store)(nil)

// New returns a Store on db. locks must be the relay's (see
// outbox.NewRelay), and relay is told of every write that would store an
// event (see outbox.Handoff). Call EnsureIndexes before serving.
func New(db *mongo.Database, locks *keylock.Locks, relay outbox.Handoff) *Store {
	return &Store{
		orders:       db.Collection(OrdersCollection),
		payments:     db.Collection(PaymentsCollection),
		guard:        mongodb.NewGuard(db),
		paymentLocks: locks,
		relay:        relay,
	}
}

// EnsureIndexes creates the unique index on the payments' orderId if it is
// missing. That index is what allows one payment per order: payments never
// check before claiming, so racing payments cannot both pass a check.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return mongodb.CreateIndexes(ctx, s.payments, mongo.IndexModel{
		Keys:    bson.D{{Key: "orderId", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("orderId_unique"),
	})
}

// Order returns the replica of an order.
func (s *Store) Order(ctx context.Context, id string) (payment.Order, error) {
	oid, err := mongodb.ParseID(id, payment.ErrMalformedID)
	if err != nil {
		return payment.Order{}, err
	}
	return s.order(ctx, oid)
}

func (s *Store) order(ctx context.Context, id bson.ObjectID) (payment.Order, error) {
	var d orderDoc
	if err := mongodb.FindByID(ctx, s.orders, id, &d, payment.ErrOrderNotFound); err != nil {
		return payment.Order{}, err
	}
	return d.order(), nil
}

// AddOrder inserts a new replica; a duplicate key means it is there
// already.
func (s *Store) AddOrder(ctx context.Context, o payment.Order) error {
	oid, err := mongodb.ParseID(o.ID, payment.ErrMalformedID)
	if err != nil {
		return err
	}
	_, err = s.orders.InsertOne(ctx, orderDoc{
		ID:        oid,
		UserID:    o.UserID,
		Status:    o.Status,
		Price:     o.Price.Cents(),
		Version:   o.Version,
		ExpiresAt: o.ExpiresAt.UTC(),
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("insert order: %w", err)
	}
	return nil
}

// CancelOrder applies the cancellation of version `version` when the
// replica holds the version before it (mongodb.Guard.ApplyVersion).
func (s *Store) CancelOrder(ctx context.Context, id string, version int64, at time.Time) error {
	oid, err := mongodb.ParseID(id, payment.ErrMalformedID)
	if err != nil {
		return err
	}
	unlock := s.orderLocks.Lock(oid.Hex())
	defer unlock()
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: events.StatusCancelled},
		{Key: "version", Value: version},
		{Key: "cancelledAt", Value: at.UTC()},
	}}}
	if err := s.guard.ApplyVersion(ctx, s.orders, oid, version, update, payment.ErrOrderBehind); err != nil {
		return fmt.Errorf("cancel order: %w", err)
	}
	return nil
}

// Claim inserts a pending payment for c.OrderID, or looks at the one that
// is there already.
func (s *Store) Claim(ctx context.Context, c payment.Claim, staleBefore time.Time) (payment.Claim, error) {
	oid, err := mongodb.ParseID(c.OrderID, payment.ErrMalformedID)
	if err != nil {
		return payment.Claim{}, err
	}
	c.OrderID = oid.Hex()
	c.ClaimedAt = c.ClaimedAt.UTC().Truncate(time.Millisecond) // what BSON keeps
	for range claimAttempts {
		id := bson.NewObjectID()
		_, err := s.payments.InsertOne(ctx, paymentDoc{
			ID:        id,
			OrderID:   c.OrderID,
			Status:    StatusPending,
			CreatedAt: c.ClaimedAt,
			Token:     c.Token,
			ClaimedAt: c.ClaimedAt,
		})
		if err == nil {
			c.ID, c.CreatedAt = id.Hex(), c.ClaimedAt
			return c, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return payment.Claim{}, fmt.Errorf("insert claim: %w", err)
		}
		taken, err := s.takeOver(ctx, c, staleBefore)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // released since our insert: claim again
		}
		return taken, err
	}
	return payment.Claim{}, fmt.Errorf("claim order %s: %w", c.OrderID, payment.ErrPaymentInProgress)
}

// takeOver takes over the order's existing claim if it is stale or
// abandoned, and says why not otherwise. It returns mongo.ErrNoDocuments
// when there is no claim.
func (s *Store) takeOver(ctx context.Context, c payment.Claim, staleBefore time.Time) (payment.Claim, error) {
	var d paymentDoc
	err := s.payments.FindOne(ctx, bson.D{{Key: "orderId", Value: c.OrderID}}, options.FindOne().SetProjection(outbox.Without)).Decode(&d)
	if err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return payment.Claim{}, err
		}
		return payment.Claim{}, fmt.Errorf("find claim: %w", err)
	}
	if d.Status != StatusPending { // charged: succeeded, or refunded
		return payment.Claim{}, payment.ErrAlreadyPaid
	}
	if !stale(d, staleBefore) {
		return payment.Claim{}, payment.ErrPaymentInProgress
	}

	// Look again under the lock: another request of this process may have
	// taken it over since.
	unlock := s.paymentLocks.Lock(d.ID.Hex())
	defer unlock()
	err = s.payments.FindOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, options.FindOne().SetProjection(outbox.Without)).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return payment.Claim{}, err
	case err != nil:
		return payment.Claim{}, fmt.Errorf("find claim: %w", err)
	case d.Status != StatusPending:
		return payment.Claim{}, payment.ErrAlreadyPaid
	case !stale(d, staleBefore):
		return payment.Claim{}, payment.ErrPaymentInProgress
	}
	ok, err := s.guard.UpdateLocked(ctx, s.payments, d.ID,
		bson.D{{Key: "status", Value: StatusPending}, {Key: "claimedAt", Value: d.ClaimedAt}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: "claimedAt", Value: c.ClaimedAt}}},
			{Key: "$unset", Value: bson.D{{Key: "abandoned", Value: ""}}},
		})
	if err != nil {
		return payment.Claim{}, fmt.Errorf("take over claim: %w", err)
	}
	if !ok {
		return payment.Claim{}, payment.ErrPaymentInProgress // another process was quicker
	}
	return payment.Claim{ID: d.ID.Hex(), OrderID: d.OrderID, Token: d.Token, ClaimedAt: c.ClaimedAt, CreatedAt: d.CreatedAt.UTC()}, nil
}

// stale reports whether a pending claim may be taken over.
func stale(d paymentDoc, staleBefore time.Time) bool {
	return d.Abandoned || d.ClaimedAt.Before(staleBefore)
}

// Complete marks the claim succeeded and pushes its payment:created in the
// same update. It filters on the status only, not on who holds the claim:
// every holder charges under the claim's one idempotency key, so whichever
// completes it records the one charge Stripe made.
func (s *Store) Complete(ctx context.Context, c payment.Claim, stripeID string) (payment.Payment, error) {
	p := payment.Payment{ID: c.ID, OrderID: c.OrderID, StripeID: stripeID, Status: payment.StatusSucceeded}
	msg, err := outbox.New(ctx, p.CreatedEvent())
	if err != nil {
		return payment.Payment{}, err
	}
	id, ok, err := s.updatePayment(ctx, c.ID,
		bson.D{{Key: "status", Value: StatusPending}},
		bson.D{
			{Key: "$set", Value: bson.D{{Key: "status", Value: StatusSucceeded}, {Key: "stripeId", Value: stripeID}}},
			{Key: "$unset", Value: bson.D{{Key: "token", Value: ""}, {Key: "claimedAt", Value: ""}, {Key: "abandoned", Value: ""}}},
			{Key: "$push", Value: bson.D{{Key: outbox.Field, Value: msg}}},
		})
	if err != nil {
		s.relay.Notify()
		return payment.Payment{}, fmt.Errorf("complete payment: %w", err)
	}
	if ok {
		s.relay.Stored(id, msg)
		return p, nil
	}
	var d paymentDoc
	err = s.payments.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(outbox.Without)).Decode(&d)
	if err != nil {
		return payment.Payment{}, fmt.Errorf("complete payment %s: find: %w", c.ID, err)
	}
	if d.Status == StatusPending {
		return payment.Payment{}, fmt.Errorf("complete payment %s: still pending", c.ID)
	}
	return d.payment(), nil
}

// Release deletes the claim if it is still pending and still c's.
func (s *Store) Release(ctx context.Context, c payment.Claim) error {
	id, err := mongodb.ParseID(c.ID, payment.ErrMalformedID)
	if err != nil {
		return err
	}
	unlock := s.paymentLocks.Lock(id.Hex())
	defer unlock()
	if _, err := s.guard.DeleteOne(ctx, s.payments, id, heldBy(c)); err != nil {
		return fmt.Errorf("release claim: %w", err)
	}
	return nil
}

// Abandon marks the claim, if it is still pending and still c's, as one
// the next attempt takes over at once.
func (s *Store) Abandon(ctx context.Context, c payment.Claim) error {
	_, _, err := s.updatePayment(ctx, c.ID, heldBy(c),
		bson.D{{Key: "$set", Value: bson.D{{Key: "abandoned", Value: true}}}})
	if err != nil {
		return fmt.Errorf("abandon claim: %w", err)
	}
	return nil
}

// updatePayment applies update to the payment with the given id if it
// still matches held, and reports whether it did. It holds the payment's
// lock while it writes: on FerretDB the lock is what makes the Guard's
// write by _id safe (see mongodb.Guard). A malformed id is
// payment.ErrMalformedID.
func (s *Store) updatePayment(ctx context.Context, id string, held, update bson.D) (bson.ObjectID, bool, error) {
	oid, err := mongodb.ParseID(id, payment.ErrMalformedID)
	if err != nil {
		return oid, false, err
	}
	unlock := s.paymentLocks.Lock(oid.Hex())
	defer unlock()
	ok, err := s.guard.UpdateOne(ctx, s.payments, oid, held, update)
	return oid, ok, err
}

// heldBy is what a claim holds while it is pending and held by c, that is
// not taken over since c claimed it.
func heldBy(c payment.Claim) bson.D {
	return bson.D{
		{Key: "status", Value: StatusPending},
		{Key: "claimedAt", Value: c.ClaimedAt.UTC().Truncate(time.Millisecond)},
	}
}
