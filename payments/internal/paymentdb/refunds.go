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
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/payments/internal/payment"
)

// PaymentOf returns the payment or claim of an order.
func (s *Store) PaymentOf(ctx context.Context, orderID string) (payment.Payment, error) {
	oid, err := mongodb.ParseID(orderID, payment.ErrMalformedID)
	if err != nil {
		return payment.Payment{}, err
	}
	var d paymentDoc
	err = s.payments.FindOne(ctx, bson.D{{Key: "orderId", Value: oid.Hex()}}, options.FindOne().SetProjection(outbox.Without)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return payment.Payment{}, payment.ErrPaymentNotFound
	}
	if err != nil {
		return payment.Payment{}, fmt.Errorf("find payment: %w", err)
	}
	return d.payment(), nil
}

// paymentByID reads a payment document by its id.
func (s *Store) paymentByID(ctx context.Context, id bson.ObjectID) (paymentDoc, error) {
	var d paymentDoc
	err := mongodb.FindByID(ctx, s.payments, id, &d, payment.ErrPaymentNotFound, options.FindOne().SetProjection(outbox.Without))
	return d, err
}

// Retake takes over the claim if it is still pending and still as c was
// listed.
func (s *Store) Retake(ctx context.Context, c payment.Claim, at time.Time) (payment.Claim, error) {
	at = at.UTC().Truncate(time.Millisecond) // what BSON keeps
	_, ok, err := s.updatePayment(ctx, c.ID, heldBy(c), bson.D{
		{Key: "$set", Value: bson.D{{Key: "claimedAt", Value: at}}},
		{Key: "$unset", Value: bson.D{{Key: "abandoned", Value: ""}}},
	})
	if err != nil {
		return payment.Claim{}, fmt.Errorf("retake claim: %w", err)
	}
	if !ok {
		return payment.Claim{}, payment.ErrPaymentInProgress
	}
	c.ClaimedAt = at
	return c, nil
}

// PendingClaims lists the claims pending since before claimedBefore. The
// filter is on fields other than _id, which FerretDB answers by reading
// the whole collection: it runs once a reconciler round, not per request.
func (s *Store) PendingClaims(ctx context.Context, claimedBefore time.Time, limit int) ([]payment.Claim, error) {
	cur, err := s.payments.Find(ctx, bson.D{
		{Key: "status", Value: StatusPending},
		{Key: "claimedAt", Value: bson.D{{Key: "$lt", Value: claimedBefore.UTC()}}},
	}, options.Find().SetProjection(outbox.Without).SetSort(bson.D{{Key: "claimedAt", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find pending claims: %w", err)
	}
	var docs []paymentDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find pending claims: %w", err)
	}
	claims := make([]payment.Claim, len(docs))
	for i, d := range docs {
		claims[i] = d.claim()
	}
	return claims, nil
}

// RefundDue marks the pending claim refunding, charged as stripeID, in
// one update that stores no event. Like Complete, it filters on the
// status only: every holder of the claim charged under its one key.
func (s *Store) RefundDue(ctx context.Context, c payment.Claim, stripeID string, at time.Time) (payment.RefundClaim, error) {
	at = at.UTC().Truncate(time.Millisecond)
	_, ok, err := s.updatePayment(ctx, c.ID,
		bson.D{{Key: "status", Value: StatusPending}},
		bson.D{
			{Key: "$set", Value: bson.D{
				{Key: "status", Value: StatusRefunding},
				{Key: "stripeId", Value: stripeID},
				{Key: "refundingAt", Value: at},
			}},
			{Key: "$unset", Value: bson.D{{Key: "token", Value: ""}, {Key: "claimedAt", Value: ""}, {Key: "abandoned", Value: ""}}},
		})
	if err != nil {
		return payment.RefundClaim{}, fmt.Errorf("mark refund due: %w", err)
	}
	if !ok {
		return payment.RefundClaim{}, fmt.Errorf("mark refund due %s: %w", c.ID, payment.ErrClaimSettled)
	}
	return payment.RefundClaim{PaymentID: c.ID, OrderID: c.OrderID, StripeID: stripeID, ClaimedAt: at}, nil
}

// ClaimRefund moves a succeeded payment to refunding, or takes over a
// refund left refunding since before staleBefore.
func (s *Store) ClaimRefund(ctx context.Context, paymentID string, at, staleBefore time.Time) (payment.RefundClaim, error) {
	id, err := mongodb.ParseID(paymentID, payment.ErrMalformedID)
	if err != nil {
		return payment.RefundClaim{}, err
	}
	at = at.UTC().Truncate(time.Millisecond)
	unlock := s.paymentLocks.Lock(id.Hex())
	defer unlock()
	d, err := s.paymentByID(ctx, id)
	if err != nil {
		return payment.RefundClaim{}, err
	}
	var held bson.D
	switch {
	case d.Status == StatusSucceeded:
		held = bson.D{{Key: "status", Value: StatusSucceeded}}
	case d.Status == StatusRefunding && d.RefundingAt.Before(staleBefore):
		held = bson.D{{Key: "status", Value: StatusRefunding}, {Key: "refundingAt", Value: d.RefundingAt}}
	case d.Status == StatusRefunded:
		return payment.RefundClaim{}, payment.ErrAlreadyRefunded
	default: // refunding by a live holder, or a claim not charged yet
		return payment.RefundClaim{}, fmt.Errorf("claim refund of %s (%s): %w", paymentID, d.Status, payment.ErrRefundInProgress)
	}
	// Read under the lock, held is what the payment holds: on FerretDB
	// the write needs no second read.
	ok, err := s.guard.UpdateLocked(ctx, s.payments, id, held, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: StatusRefunding},
		{Key: "refundingAt", Value: at},
	}}})
	if err != nil {
		return payment.RefundClaim{}, fmt.Errorf("claim refund: %w", err)
	}
	if !ok { // another process was quicker
		return payment.RefundClaim{}, fmt.Errorf("claim refund of %s: %w", paymentID, payment.ErrRefundInProgress)
	}
	return payment.RefundClaim{PaymentID: d.ID.Hex(), OrderID: d.OrderID, StripeID: d.StripeID, ClaimedAt: at}, nil
}

// Refunded records the refund. It filters on the status only: every
// holder refunds under the payment's one refund key, so whichever records
// it records the one refund Stripe made.
func (s *Store) Refunded(ctx context.Context, r payment.RefundClaim, refundID string, at time.Time) (payment.Payment, error) {
	at = at.UTC().Truncate(time.Millisecond)
	id, ok, err := s.updatePayment(ctx, r.PaymentID,
		bson.D{{Key: "status", Value: StatusRefunding}},
		bson.D{
			{Key: "$set", Value: bson.D{
				{Key: "status", Value: StatusRefunded},
				{Key: "refundId", Value: refundID},
				{Key: "refundedAt", Value: at},
			}},
			{Key: "$unset", Value: bson.D{{Key: "refundingAt", Value: ""}}},
		})
	if err != nil {
		return payment.Payment{}, fmt.Errorf("record refund: %w", err)
	}
	if ok {
		return payment.Payment{ID: r.PaymentID, OrderID: r.OrderID, StripeID: r.StripeID,
			Status: payment.StatusRefunded, RefundID: refundID, RefundedAt: at}, nil
	}
	d, err := s.paymentByID(ctx, id)
	if err != nil {
		return payment.Payment{}, fmt.Errorf("record refund of %s: %w", r.PaymentID, err)
	}
	if d.Status != StatusRefunded {
		return payment.Payment{}, fmt.Errorf("record refund of %s: unexpected status %q", r.PaymentID, d.Status)
	}
	return d.payment(), nil
}

// RefundsDue lists the payments left refunding since before staleBefore,
// then those succeeded whose order's replica was cancelled between
// cancelledAfter and cancelledBefore. Like PendingClaims, it filters on
// fields other than _id, once a reconciler round.
func (s *Store) RefundsDue(ctx context.Context, staleBefore, cancelledAfter, cancelledBefore time.Time, limit int) ([]payment.Payment, error) {
	var docs []paymentDoc
	cur, err := s.payments.Find(ctx, bson.D{
		{Key: "status", Value: StatusRefunding},
		{Key: "refundingAt", Value: bson.D{{Key: "$lt", Value: staleBefore.UTC()}}},
	}, options.Find().SetProjection(outbox.Without).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("find refunds left: %w", err)
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("find refunds left: %w", err)
	}

	cur, err = s.orders.Find(ctx, bson.D{
		{Key: "status", Value: events.StatusCancelled},
		{Key: "cancelledAt", Value: bson.D{{Key: "$gt", Value: cancelledAfter.UTC()}, {Key: "$lt", Value: cancelledBefore.UTC()}}},
	}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("find cancelled orders: %w", err)
	}
	var cancelled []struct {
		ID bson.ObjectID `bson:"_id"`
	}
	if err := cur.All(ctx, &cancelled); err != nil {
		return nil, fmt.Errorf("find cancelled orders: %w", err)
	}
	if len(cancelled) > 0 && len(docs) < limit {
		ids := make(bson.A, len(cancelled))
		for i, o := range cancelled {
			ids[i] = o.ID.Hex()
		}
		cur, err = s.payments.Find(ctx, bson.D{
			{Key: "orderId", Value: bson.D{{Key: "$in", Value: ids}}},
			{Key: "status", Value: StatusSucceeded},
		}, options.Find().SetProjection(outbox.Without).SetLimit(int64(limit-len(docs))))
		if err != nil {
			return nil, fmt.Errorf("find payments of cancelled orders: %w", err)
		}
		var paid []paymentDoc
		if err := cur.All(ctx, &paid); err != nil {
			return nil, fmt.Errorf("find payments of cancelled orders: %w", err)
		}
		docs = append(docs, paid...)
	}
	out := make([]payment.Payment, len(docs))
	for i, d := range docs {
		out[i] = d.payment()
	}
	return out, nil
}
