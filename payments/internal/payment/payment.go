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

// Payment is a successful charge of an order.
type Payment struct {
	ID       string
	OrderID  string
	StripeID string
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
}

// IdempotencyKey is the key every charge made for the claim carries.
func (c Claim) IdempotencyKey() string {
	return "payment-" + c.OrderID + "-" + c.ID
}

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
	// ErrMalformedID is an id that is not a MongoDB ObjectID in hex.
	ErrMalformedID = errs.New(errs.Invalid, "Malformed id")
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
	// ErrOrderBehind is an order:cancelled event whose previous version the
	// replica does not hold yet; it must wait for the events before it.
	ErrOrderBehind = errors.New("payment: order replica is behind the event")
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
	// Charge charges amountCents in currency to the card of token source
	// and returns the charge's id. Requests with the same idempotencyKey
	// make one charge at most. It fails with an error for which
	// errors.Is(err, ErrDeclined) holds when Stripe refused the charge for
	// a reason the buyer can act on, and with ErrStripeUnavailable when
	// Stripe could not be reached or failed — wrapped in ErrOutcomeUnknown
	// when the request may have been carried out all the same.
	Charge(ctx context.Context, amountCents int64, currency, source, idempotencyKey string) (stripeID string, err error)
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
	// CancelOrder applies version `version` of an order, its cancellation,
	// when the replica holds the version before it. A version already
	// applied changes nothing; one whose predecessor is missing fails with
	// ErrOrderBehind.
	CancelOrder(ctx context.Context, id string, version int64) error

	// Claim stores c, a claim on c.OrderID, under a new id and returns it
	// with that id. When the order is claimed already it fails with
	// ErrAlreadyPaid if that claim succeeded, takes the claim over and
	// returns it if it was abandoned or claimed before staleBefore, and
	// fails with ErrPaymentInProgress otherwise.
	Claim(ctx context.Context, c Claim, staleBefore time.Time) (Claim, error)
	// Complete marks the claim succeeded with Stripe's charge id and stores
	// payment:created with it. A claim completed already, by whoever took
	// it over, is returned as it is.
	Complete(ctx context.Context, c Claim, stripeID string) (Payment, error)
	// Release deletes the claim unless someone took it over meanwhile.
	Release(ctx context.Context, c Claim) error
	// Abandon marks the claim as one the next attempt takes over at once.
	Abandon(ctx context.Context, c Claim) error
}

// CreatedEvent is the payment:created event announcing p.
func (p Payment) CreatedEvent() events.PaymentCreated {
	return events.PaymentCreated{ID: p.ID, OrderID: p.OrderID, StripeID: p.StripeID}
}
