package payment

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ticketing.dev/common/events"
)

// Timing of a payment.
const (
	// DefaultChargeTimeout bounds a charge and the writes after it, and a
	// refund and the writes after it. It must stay well below
	// DefaultStaleClaim, so that a claim is only ever taken over from a
	// holder that has given up or died.
	DefaultChargeTimeout = 25 * time.Second
	// DefaultChargeMargin is added to the charge timeout: a payment is
	// refused when its order has less time left than both, and the
	// reconciler settles claims and refunds held longer than both.
	DefaultChargeMargin = 5 * time.Second
	// DefaultStaleClaim is the age after which a claim still pending is
	// taken to have been left by a crash.
	DefaultStaleClaim = time.Minute
)

// The triggers of a refund, as Observer.Refunded names them.
const (
	// TriggerInFlight is a charge whose order was cancelled, or expired,
	// while it was under way.
	TriggerInFlight = "in_flight"
	// TriggerCancelled is an order:cancelled for an order paid already.
	TriggerCancelled = "order_cancelled"
	// TriggerReconciler is a refund the reconciler made: one left behind.
	TriggerReconciler = "reconciler"
)

// Observer is told what the Service did, for metrics.
type Observer interface {
	// Refunded is called once a refund is recorded.
	Refunded(trigger string)
}

// Service pays for orders and keeps the order replicas it checks them
// against.
type Service struct {
	store         Store
	charger       Charger
	now           func() time.Time
	chargeTimeout time.Duration
	chargeMargin  time.Duration
	staleClaim    time.Duration
	observer      Observer
	refunds       refundWindow // Reconcile's
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the Service read the time from now; tests use it.
func WithClock(now func() time.Time) Option {
	return func(s *Service) { s.now = now }
}

// WithChargeTimeout replaces DefaultChargeTimeout.
func WithChargeTimeout(d time.Duration) Option {
	return func(s *Service) { s.chargeTimeout = d }
}

// WithChargeMargin replaces DefaultChargeMargin.
func WithChargeMargin(d time.Duration) Option {
	return func(s *Service) { s.chargeMargin = d }
}

// WithObserver tells o of every refund recorded.
func WithObserver(o Observer) Option {
	return func(s *Service) { s.observer = o }
}

// NewService returns a Service keeping orders and payments in store and
// charging cards through charger.
func NewService(store Store, charger Charger, opts ...Option) *Service {
	s := &Service{
		store:         store,
		charger:       charger,
		now:           time.Now,
		chargeTimeout: DefaultChargeTimeout,
		chargeMargin:  DefaultChargeMargin,
		staleClaim:    DefaultStaleClaim,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// settleAge is how long a charge or a refund may take, writes included:
// a claim or a refund held longer is one its holder gave up on.
func (s *Service) settleAge() time.Duration {
	return s.chargeTimeout + s.chargeMargin
}

// Pay charges the user's order to the card of token and records the
// payment. It fails with ErrOrderNotFound, ErrNotOwner, ErrOrderCancelled
// (also for an order whose lock ran out), ErrTooLittleTime, ErrAlreadyPaid
// or ErrPaymentInProgress before anything is charged, and with the
// Charger's errors when the charge fails, in which case nothing is
// recorded. A charge whose order was cancelled while it was under way is
// refunded and fails with ErrCancelledWhilePaying.
func (s *Service) Pay(ctx context.Context, userID, orderID, token string) (Payment, error) {
	o, err := s.store.Order(ctx, orderID)
	if err != nil {
		return Payment{}, fmt.Errorf("pay: %w", err)
	}
	if err := o.CheckOwner(userID); err != nil {
		return Payment{}, err
	}
	now := s.now()
	if err := o.CheckPayable(now); err != nil {
		return Payment{}, err
	}
	if err := o.CheckTimeLeft(now, s.settleAge()); err != nil {
		return Payment{}, s.tooLate(ctx, o, err)
	}
	c, err := s.store.Claim(ctx, Claim{OrderID: o.ID, Token: token, ClaimedAt: now}, now.Add(-s.staleClaim))
	if err != nil {
		return Payment{}, fmt.Errorf("pay: %w", err)
	}

	// From here on the work is finished even if the client goes away: a
	// charge cut off halfway would leave its outcome unknown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.chargeTimeout)
	defer cancel()
	stripeID, err := s.charger.Charge(ctx, c, o.Price.Cents(), Currency)
	if err != nil {
		return Payment{}, s.giveUp(ctx, c, err)
	}
	p, err := s.settle(ctx, c, stripeID, TriggerInFlight)
	if err != nil {
		if p.Status == StatusRefunding {
			// Refunding, but Stripe did not confirm it yet: the
			// reconciler finishes the refund.
			return Payment{}, errors.Join(ErrCancelledWhilePaying, err)
		}
		// The card may be charged but the payment is not recorded. The
		// claim stays pending, so the reconciler, or a later attempt
		// once the claim is stale, repeats the charge under the same key,
		// which Stripe answers with this very charge, and settles it.
		return Payment{}, fmt.Errorf("pay: charged %s as %s but not recorded: %w", c.IdempotencyKey(), stripeID, err)
	}
	if p.Status != StatusSucceeded {
		return Payment{}, ErrCancelledWhilePaying
	}
	return p, nil
}

// tooLate is the error of a payment refused for the little time its order
// has left, unless the order is paid or being paid already, which the
// buyer is better told.
func (s *Service) tooLate(ctx context.Context, o Order, tooLate error) error {
	p, err := s.store.PaymentOf(ctx, o.ID)
	switch {
	case err != nil:
		return tooLate
	case p.Status == StatusPending:
		return ErrPaymentInProgress
	default:
		return ErrAlreadyPaid
	}
}

// giveUp ends a claim whose charge failed with chargeErr: one that may have
// been charged is kept for the next attempt to repeat, any other released.
func (s *Service) giveUp(ctx context.Context, c Claim, chargeErr error) error {
	end, what := s.store.Release, "release"
	if errors.Is(chargeErr, ErrOutcomeUnknown) {
		end, what = s.store.Abandon, "abandon"
	}
	if err := end(ctx, c); err != nil {
		return errors.Join(chargeErr, fmt.Errorf("pay: %s claim: %w", what, err))
	}
	return chargeErr
}

// settle records the claim c that Stripe charged as stripeID: a payment
// with its payment:created while its order is payable, a refund
// otherwise. It returns the payment as it ends: succeeded, refunded, or
// refunding when the refund failed (with the error) or is another's.
func (s *Service) settle(ctx context.Context, c Claim, stripeID, trigger string) (Payment, error) {
	o, err := s.store.Order(ctx, c.OrderID)
	if err != nil {
		return Payment{}, err
	}
	var p Payment
	if o.CheckPayable(s.now()) != nil {
		// Cancelled, or its lock ran out: payment:created would come too
		// late to complete it, so the charge is refunded instead.
		r, err := s.store.RefundDue(ctx, c, stripeID, s.now())
		if err == nil {
			return s.refund(ctx, r, trigger)
		}
		if !errors.Is(err, ErrClaimSettled) {
			return Payment{}, err
		}
		// Another holder of the claim settled it meanwhile: see what
		// became of it.
		if p, err = s.store.PaymentOf(ctx, c.OrderID); err != nil {
			return Payment{}, err
		}
	} else if p, err = s.store.Complete(ctx, c, stripeID); err != nil {
		// Complete answers the payment as it stands, also when another
		// holder of the claim settled it first: no second read.
		return Payment{}, err
	}
	// The payment is written; the cancellation may have been written
	// since the order was read. Reading the order again after writing the
	// payment, as CancelOrder reads the payment after writing the order,
	// makes sure that one of the two sees both.
	return s.refundIfCancelled(ctx, p, trigger)
}

// refundIfCancelled refunds p when its order's replica is cancelled, or
// finishes its refund when its holder gave up on it. A payment that
// succeeded while its order was payable is refunded only on the order's
// cancellation, not on its expiry: payment:created is on its way, and the
// orders service completes the order unless it cancelled it first.
func (s *Service) refundIfCancelled(ctx context.Context, p Payment, trigger string) (Payment, error) {
	switch p.Status {
	case StatusSucceeded:
		o, err := s.store.Order(ctx, p.OrderID)
		if err != nil {
			return p, err
		}
		if o.Status != events.StatusCancelled {
			return p, nil
		}
	case StatusRefunding:
	default:
		return p, nil
	}
	now := s.now()
	r, err := s.store.ClaimRefund(ctx, p.ID, now, now.Add(-s.settleAge()))
	switch {
	case errors.Is(err, ErrRefundInProgress), errors.Is(err, ErrAlreadyRefunded):
		return s.store.PaymentOf(ctx, p.OrderID)
	case err != nil:
		return p, err
	}
	return s.refund(ctx, r, trigger)
}

// refund refunds the charge of r, which the caller holds, and records it.
// When Stripe fails, the payment stays refunding for the reconciler.
func (s *Service) refund(ctx context.Context, r RefundClaim, trigger string) (Payment, error) {
	refunding := Payment{ID: r.PaymentID, OrderID: r.OrderID, StripeID: r.StripeID, Status: StatusRefunding}
	refundID, err := s.charger.Refund(ctx, r.StripeID, r.IdempotencyKey())
	if err != nil {
		return refunding, fmt.Errorf("refund payment %s: %w", r.PaymentID, err)
	}
	p, err := s.store.Refunded(ctx, r, refundID, s.now())
	if err != nil {
		return refunding, fmt.Errorf("refund payment %s: refunded as %s but not recorded: %w", r.PaymentID, refundID, err)
	}
	if s.observer != nil {
		s.observer.Refunded(trigger)
	}
	return p, nil
}

// Payment returns the payment of the user's order. It fails with
// ErrOrderNotFound for an order the replica does not hold or that is not
// the user's — to others, someone's payment does not exist — and with
// ErrPaymentNotFound when the order has none.
func (s *Service) Payment(ctx context.Context, userID, orderID string) (Payment, Order, error) {
	o, err := s.store.Order(ctx, orderID)
	if err != nil {
		return Payment{}, Order{}, fmt.Errorf("payment: %w", err)
	}
	if o.CheckOwner(userID) != nil {
		return Payment{}, Order{}, ErrOrderNotFound
	}
	p, err := s.store.PaymentOf(ctx, o.ID)
	if err != nil {
		return Payment{}, Order{}, fmt.Errorf("payment: %w", err)
	}
	return p, o, nil
}

// AddOrder stores the replica of a new order; see Store.AddOrder.
func (s *Service) AddOrder(ctx context.Context, o Order) error {
	if err := s.store.AddOrder(ctx, o); err != nil {
		return fmt.Errorf("add order: %w", err)
	}
	return nil
}

// CancelOrder applies an order's cancellation (see Store.CancelOrder),
// then refunds its payment if it has succeeded. It returns nil only once
// nothing is left to do here: no payment, a claim whose holder settles it
// (it reads the order after recording the charge), or a refund recorded.
// A refund that Stripe failed, or that another holder is making, is
// ErrRefundInProgress or Stripe's error, so that the event comes again.
func (s *Service) CancelOrder(ctx context.Context, id string, version int64) error {
	if err := s.store.CancelOrder(ctx, id, version, s.now()); err != nil {
		return fmt.Errorf("cancel order: %w", err)
	}
	p, err := s.store.PaymentOf(ctx, id)
	if errors.Is(err, ErrPaymentNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cancel order: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.chargeTimeout)
	defer cancel()
	p, err = s.refundIfCancelled(ctx, p, TriggerCancelled)
	if err != nil {
		return fmt.Errorf("cancel order: %w", err)
	}
	if p.Status == StatusRefunding {
		return fmt.Errorf("cancel order %s: payment %s: %w", id, p.ID, ErrRefundInProgress)
	}
	return nil
}
