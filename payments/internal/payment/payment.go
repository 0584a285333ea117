// Package payment is the payments service's domain: the replica of an order
// it may charge for, a payment, the rules that decide whether an order can
// be paid, what a Store and a Charger must guarantee, and the Service that
// ties them together. It knows nothing of HTTP, MongoDB, NATS or Stripe's
// SDK.
//
// # At most one payment per order
//
// A payment starts as a claim: a pending payment document whose order id is
// unique, so of any number of racing requests for one order exactly one
// claims it and the others are refused before anything is charged. The
// holder of the claim charges the card with the claim's idempotency key and
// then marks the claim succeeded, storing payment:created with it.
//
// The idempotency key names the claim, not only the order: Stripe stores
// the answer to the first request of a key, a decline included, for a day
// and refuses the key with other parameters, so a buyer whose card was
// declined could never pay with another card if the key were the order's
// alone. A failed charge that Stripe answered (declined, refused, or a
// server error, which Stripe also replays for the key) therefore releases
// the claim, and the next attempt claims afresh under a new key.
//
// A charge whose answer never came (a timeout, a connection dropped after
// the request was sent) may have gone through. Its claim is kept, marked
// abandoned, and the next attempt takes it over and repeats exactly that
// request — same key, same card token — so Stripe either returns the
// charge it made or makes it now, never a second one. A claim whose holder
// died is taken over the same way once it is older than the Service's
// stale-claim age.
//
// # No money kept without a ticket
//
// Every successful charge ends in a complete order or in exactly one
// refund. A charge whose order is no longer payable when it returns — it
// was cancelled, or its lock ran out, while the charge was in flight — is
// marked refunding instead of succeeded, without payment:created, and
// refunded. An order:cancelled that arrives after its payment succeeded
// refunds it too. The two paths meet without a lock between them: each
// writes what it learnt (the replica's cancellation; the payment's
// success) before it reads what the other writes, so at least one of them
// sees both, and whoever sees both claims the refund by moving the payment
// from succeeded to refunding, a write that only one of them can make.
// The holder of that claim calls Stripe's Refunds API with the payment's
// refund key and records the refund. A claim or a refund left behind by a
// crash, or by Stripe failing, is settled by the Service's Reconcile.
package payment

import (
	"context"
	"errors"
	"time"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
)

// Currency is the currency every order is charged in.
const Currency = "usd"

// Order is the payments service's replica of an order of the orders
// service, kept up to date from order:created and order:cancelled only.
type Order struct {
	ID     string
	UserID string
	Status events.OrderStatus
	// Price is the ticket's price when the order was placed, in cents.
	Price events.Money
	// Version is the version of the last event applied to the replica.
	Version   int64
	ExpiresAt time.Time
}

// Status is where a payment stands.
type Status string

// The statuses of a payment.
const (
	// StatusPending is a claim: its charge is under way, or failed without
	// an answer, or its holder died.
	StatusPending Status = "pending"
	// StatusSucceeded is a payment: the card was charged and
	// payment:created stored.
	StatusSucceeded Status = "succeeded"
	// StatusRefunding is a charge whose order was cancelled: its refund is
	// under way, held by a RefundClaim.
	StatusRefunding Status = "refunding"
	// StatusRefunded is a charge refunded; nothing follows.
	StatusRefunded Status = "refunded"
)

// Payment is a charge of an order, or the claim to make one.
type Payment struct {
	ID       string
	OrderID  string
	StripeID string
	Status   Status
	// RefundID and RefundedAt are set once the charge is refunded.
	RefundID   string
	RefundedAt time.Time
}

// RefundKey is the idempotency key of the payment's refund: one per
// payment, so that however often it is asked for, Stripe refunds once.
func (p Payment) RefundKey() string {
	return "refund-" + p.ID
}

// RefundClaim is the exclusive right to refund a payment, held by whoever
// marked it refunding.
type RefundClaim struct {
	PaymentID string
	OrderID   string
	StripeID  string
	ClaimedAt time.Time
}

// IdempotencyKey is the key of the refund, the same for every holder.
func (r RefundClaim) IdempotencyKey() string {
	return Payment{ID: r.PaymentID}.RefundKey()
}

// Claim is the exclusive right to charge an order: a payment not yet made.
type Claim struct {
	// ID is the id the payment will have.
	ID      string
	OrderID string
	// Token is the card token the claim charges. A claim taken over
	// charges the token of the request that made it, so that repeating
	// its charge sends Stripe exactly the same request.
	Token     string
	ClaimedAt time.Time
	// CreatedAt is when the claim was made: every charge under its
	// idempotency key was sent after it (see MaxRepeatAge).
	CreatedAt time.Time
}

// IdempotencyKey is the key every charge made for the claim carries.
func (c Claim) IdempotencyKey() string {
	return "payment-" + c.OrderID + "-" + c.ID
}

// MaxRepeatAge is the age up to which a claim left pending is settled by
// repeating its charge under its idempotency key. Stripe keeps a key, and
// its answer, for 24 hours only: a request repeated later is a new one,
// which could charge the card a second time, or be refused (the token was
// used) while the first charge went through. An hour below that covers
// clocks and the charge under way. An older claim is settled by looking
// its charge up by the metadata every charge carries (Charger.FindCharge).
const MaxRepeatAge = 23 * time.Hour

// Errors of the payment domain. The messages of those with a kind are what
// a client is shown.
var (
	// ErrOrderNotFound is a payment for an order the replica does not hold.
	ErrOrderNotFound = errs.New(errs.NotFound, "Not Found")
	// ErrNotOwner is a payment for someone else's order.
	ErrNotOwner = errs.New(errs.Unauthorized, "Not authorized")
	// ErrOrderCancelled is a payment for an order that was cancelled or
	// whose lock on its ticket has run out.
	ErrOrderCancelled = errs.New(errs.Invalid, "Cannot pay for a cancelled order")
	// ErrAlreadyPaid is a payment for an order that has one.
	ErrAlreadyPaid = errs.New(errs.Invalid, "Order has already been paid")
	// ErrPaymentInProgress is a payment for an order that another request
	// is charging right now.
	ErrPaymentInProgress = errs.New(errs.Invalid, "A payment for this order is already in progress")
	// ErrMalformedID is an id that is not a MongoDB ObjectID in hex; the
	// store's also wraps mongodb.ErrBadID, the one malformed id of every
	// store.
	ErrMalformedID = errs.New(errs.Invalid, "Malformed id")
	// ErrTooLittleTime is a payment for an order whose lock runs out before
	// a charge could be sure to finish: started, it could only end in a
	// refund.
	ErrTooLittleTime = errs.New(errs.Invalid, "Too little time is left to pay for this order")
	// ErrCancelledWhilePaying is a payment whose order was cancelled, or
	// whose lock ran out, while its card was being charged: the charge is
	// refunded.
	ErrCancelledWhilePaying = errs.New(errs.Invalid, "The order was cancelled while it was being paid: the payment is refunded")
	// ErrPaymentNotFound is an order without a payment.
	ErrPaymentNotFound = errs.New(errs.NotFound, "Not Found")
	// ErrStripeUnavailable is a charge that failed because Stripe could not
	// be reached or did not answer properly. Nothing was recorded; the
	// buyer may try again.
	ErrStripeUnavailable = errs.New(errs.Unavailable, "Payment provider unavailable, please try again")

	// ErrDeclined marks a charge that Stripe refused for a reason the buyer
	// can act on, such as a declined card; see Declined.
	ErrDeclined = errors.New("payment: charge declined")
	// ErrOutcomeUnknown marks an ErrStripeUnavailable whose request may
	// have reached Stripe: no answer came back. See the package doc.
	ErrOutcomeUnknown = errors.New("payment: charge outcome unknown")
	// ErrNotCharged is a claim whose charges Stripe holds, every one of
	// them failed: nothing was charged under it.
	ErrNotCharged = errors.New("payment: stripe holds no successful charge of the claim")
	// ErrOrderBehind is an order:cancelled event whose previous version the
	// replica does not hold yet; it must wait for the events before it.
	ErrOrderBehind = errors.New("payment: order replica is behind the event")
	// ErrClaimSettled is a claim that someone else completed or marked for
	// a refund meanwhile.
	ErrClaimSettled = errors.New("payment: claim settled already")
	// ErrRefundInProgress is a refund that another holder is making.
	ErrRefundInProgress = errors.New("payment: refund in progress")
	// ErrAlreadyRefunded is a refund of a payment refunded already.
	ErrAlreadyRefunded = errors.New("payment: already refunded")
)

// Declined returns the error of a charge Stripe refused with message, its
// explanation for the buyer: a 400 showing that message.
func Declined(message string) error {
	if message == "" {
		message = "Your card was declined."
	}
	return &declinedError{shown: errs.New(errs.Invalid, message)}
}

// declinedError is both ErrDeclined and the 400 the buyer is shown.
type declinedError struct{ shown *errs.Error }

func (e *declinedError) Error() string { return "payment: charge declined: " + e.shown.Message }

func (e *declinedError) Unwrap() []error { return []error{ErrDeclined, e.shown} }

// Unknown returns the error of a charge whose request may have reached
// Stripe without an answer coming back; cause says what went wrong.
func Unknown(cause error) error {
	return &unknownError{cause}
}

type unknownError struct{ cause error }

func (e *unknownError) Error() string {
	return "payment: charge outcome unknown: " + e.cause.Error()
}

func (e *unknownError) Unwrap() []error {
	return []error{ErrOutcomeUnknown, ErrStripeUnavailable, e.cause}
}

// Charger charges cards.
type Charger interface {
	// Charge charges amountCents in currency to the card of c's token,
	// under c's idempotency key, with c's order and payment ids in the
	// charge's metadata, and returns the charge's id. Requests of one claim
	// make one charge at most while Stripe keeps the key (MaxRepeatAge).
	// It fails with an error for which errors.Is(err, ErrDeclined) holds
	// when Stripe refused the charge for a reason the buyer can act on, and
	// with ErrStripeUnavailable when Stripe could not be reached or failed
	// — wrapped in ErrOutcomeUnknown when the request may have been carried
	// out all the same.
	Charge(ctx context.Context, c Claim, amountCents int64, currency string) (stripeID string, err error)
	// FindCharge looks up by their metadata the charges Stripe made for c
	// and returns the id of the one that succeeded. It fails with
	// ErrNotCharged when every charge of c failed, and with another error
	// when it cannot tell: Stripe failed, holds no charge of c, more than
	// one that succeeded, or one still pending.
	FindCharge(ctx context.Context, c Claim) (stripeID string, err error)
	// Refund refunds the whole charge stripeID and returns the refund's
	// id. Requests with the same idempotencyKey make one refund at most,
	// and a charge refunded already returns its refund. It fails with
	// ErrStripeUnavailable when Stripe could not be reached or failed, and
	// with another error when it refused.
	Refund(ctx context.Context, stripeID, idempotencyKey string) (refundID string, err error)
}

// Store keeps order replicas and payments.
//
// A Store guarantees by itself that an order has one claim at most, even
// when requests race, and that a payment marked succeeded is stored
// together with its payment:created event, so that the event is published
// eventually even if the process dies right after the write.
type Store interface {
	// Order returns the replica of an order, or ErrOrderNotFound.
	Order(ctx context.Context, id string) (Order, error)
	// AddOrder stores a new replica. An order already stored is left as it
	// is, so that a redelivered order:created changes nothing.
	AddOrder(ctx context.Context, o Order) error
	// CancelOrder applies version `version` of an order, its cancellation
	// at `at`, when the replica holds the version before it. A version
	// already applied changes nothing; one whose predecessor is missing
	// fails with ErrOrderBehind.
	CancelOrder(ctx context.Context, id string, version int64, at time.Time) error
	// PaymentOf returns the payment or claim of an order, or
	// ErrPaymentNotFound.
	PaymentOf(ctx context.Context, orderID string) (Payment, error)

	// Claim stores c, a claim on c.OrderID, under a new id and returns it
	// with that id. When the order is claimed already it fails with
	// ErrAlreadyPaid if that claim succeeded, takes the claim over and
	// returns it if it was abandoned or claimed before staleBefore, and
	// fails with ErrPaymentInProgress otherwise.
	Claim(ctx context.Context, c Claim, staleBefore time.Time) (Claim, error)
	// Complete marks the claim succeeded with Stripe's charge id and stores
	// payment:created with it. A claim settled already, by whoever took it
	// over, is returned as it is now: succeeded, refunding or refunded.
	Complete(ctx context.Context, c Claim, stripeID string) (Payment, error)
	// Release deletes the claim unless someone took it over meanwhile.
	Release(ctx context.Context, c Claim) error
	// Abandon marks the claim as one the next attempt takes over at once.
	Abandon(ctx context.Context, c Claim) error
	// Retake takes over the pending claim c, as it was listed, at `at`. It
	// fails with ErrPaymentInProgress when someone took it over or settled
	// it since.
	Retake(ctx context.Context, c Claim, at time.Time) (Claim, error)
	// PendingClaims lists up to limit claims pending since before
	// claimedBefore, oldest first.
	PendingClaims(ctx context.Context, claimedBefore time.Time, limit int) ([]Claim, error)

	// RefundDue marks the pending claim c, charged as stripeID, as a charge
	// to refund, without payment:created, and returns the refund's claim,
	// made at `at`. It fails with ErrClaimSettled when the claim is no
	// longer pending.
	RefundDue(ctx context.Context, c Claim, stripeID string, at time.Time) (RefundClaim, error)
	// ClaimRefund claims, at `at`, the refund of the payment id: one that
	// succeeded, or one left refunding since before staleBefore by a
	// holder taken to have died. It fails with ErrRefundInProgress when
	// another holder has it and ErrAlreadyRefunded when it is done.
	ClaimRefund(ctx context.Context, id string, at, staleBefore time.Time) (RefundClaim, error)
	// Refunded records the refund of r's payment. A refund recorded
	// already, by whoever took it over, is returned as it is.
	Refunded(ctx context.Context, r RefundClaim, refundID string, at time.Time) (Payment, error)
	// RefundsDue lists up to limit payments whose refund nobody is making:
	// those left refunding since before staleBefore, and those succeeded
	// whose order's replica was cancelled between cancelledAfter and
	// cancelledBefore.
	RefundsDue(ctx context.Context, staleBefore, cancelledAfter, cancelledBefore time.Time, limit int) ([]Payment, error)
}

// CreatedEvent is the payment:created event announcing p.
func (p Payment) CreatedEvent() events.PaymentCreated {
	return events.PaymentCreated{ID: p.ID, OrderID: p.OrderID, StripeID: p.StripeID}
}
