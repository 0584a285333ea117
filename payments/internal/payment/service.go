package payment

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Timing of a payment.
const (
	// DefaultChargeTimeout bounds a charge and the writes after it. It must
	// stay well below DefaultStaleClaim, so that a claim is only ever taken
	// over from a holder that has given up or died.
	DefaultChargeTimeout = 25 * time.Second
	// DefaultStaleClaim is the age after which a claim still pending is
	// taken to have been left by a crash.
	DefaultStaleClaim = time.Minute
)

// Service pays for orders and keeps the order replicas it checks them
// against.
type Service struct {
	store         Store
	charger       Charger
	now           func() time.Time
	chargeTimeout time.Duration
	staleClaim    time.Duration
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the Service read the time from now; tests use it.
func WithClock(now func() time.Time) Option {
	return func(s *Service) { s.now = now }
}

// NewService returns a Service keeping orders and payments in store and
// charging cards through charger.
func NewService(store Store, charger Charger, opts ...Option) *Service {
	s := &Service{
		store:         store,
		charger:       charger,
		now:           time.Now,
		chargeTimeout: DefaultChargeTimeout,
		staleClaim:    DefaultStaleClaim,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Pay charges the user's order to the card of token and records the
// payment. It fails with ErrOrderNotFound, ErrNotOwner, ErrOrderCancelled
// (also for an order whose lock ran out), ErrAlreadyPaid or
// ErrPaymentInProgress before anything is charged, and with the Charger's
// errors when the charge fails, in which case nothing is recorded.
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
	c, err := s.store.Claim(ctx, Claim{OrderID: o.ID, Token: token, ClaimedAt: now}, now.Add(-s.staleClaim))
	if err != nil {
		return Payment{}, fmt.Errorf("pay: %w", err)
	}

	// From here on the work is finished even if the client goes away: a
	// charge cut off halfway would leave its outcome unknown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.chargeTimeout)
	defer cancel()
	stripeID, err := s.charger.Charge(ctx, o.Price.Cents(), Currency, c.Token, c.IdempotencyKey())
	if err != nil {
		return Payment{}, s.giveUp(ctx, c, err)
	}
	p, err := s.store.Complete(ctx, c, stripeID)
	if err != nil {
		// The card is charged but the payment is not recorded. The claim
		// stays pending, so a later attempt takes it over once stale and
		// repeats the charge under the same key, which Stripe answers
		// with this very charge.
		return Payment{}, fmt.Errorf("pay: charged %s as %s but not recorded: %w", c.IdempotencyKey(), stripeID, err)
	}
	return p, nil
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

// AddOrder stores the replica of a new order; see Store.AddOrder.
func (s *Service) AddOrder(ctx context.Context, o Order) error {
	if err := s.store.AddOrder(ctx, o); err != nil {
		return fmt.Errorf("add order: %w", err)
	}
	return nil
}

// CancelOrder applies an order's cancellation; see Store.CancelOrder.
func (s *Service) CancelOrder(ctx context.Context, id string, version int64) error {
	if err := s.store.CancelOrder(ctx, id, version); err != nil {
		return fmt.Errorf("cancel order: %w", err)
	}
	return nil
}
