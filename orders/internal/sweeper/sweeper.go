// Package sweeper cancels the orders whose expiration:complete never came.
//
// The expiration service keeps an order's expiry as a job in Redis, which
// may lose it: a pod rescheduled onto an empty volume, a flush. Without the
// sweep, such an order would lock its ticket for ever. Every interval the
// sweeper looks for orders still created or awaiting payment whose
// expiresAt passed more than a grace period ago, by the orders service's
// own clock, and cancels each the way expiration:complete does (the rule
// order.Expire through the store's Update: one order:cancelled in the
// outbox, the ticket's claim released). So a lost expiry holds a ticket for
// at most the grace period plus the interval after expiresAt.
//
// The grace period leaves the expiration service the first word: sweeping
// an order at the moment it expires would race every expiration:complete
// for nothing. A race is harmless all the same: the store serialises the
// writes of one order, and cancelling a cancelled order changes nothing.
package sweeper

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"ticketing.dev/common/metrics"
	"ticketing.dev/orders/internal/order"
)

// DefaultGrace is how long after its expiresAt an order is left to
// expiration:complete before the sweep cancels it, unless configured
// otherwise (EXPIRY_GRACE).
const DefaultGrace = time.Minute

// MinGrace is the shortest grace period accepted: the sweep runs every half
// grace period, and a shorter one would sweep more often than a lost expiry
// is worth.
const MinGrace = time.Second

// DefaultBatch is how many overdue orders one query of the sweep reads.
const DefaultBatch = 100

// Interval is how often the sweep runs for a grace period: twice per grace
// period, so that a lost expiry is cancelled at most one and a half grace
// periods after expiresAt.
func Interval(grace time.Duration) time.Duration {
	return grace / 2
}

// Sweeper cancels overdue orders every interval.
type Sweeper struct {
	orders   *order.Service
	grace    time.Duration
	interval time.Duration
	batch    int
	log      *slog.Logger
	metrics  *metrics.Sweep // nil records nothing
}

// Option configures a Sweeper.
type Option func(*Sweeper)

// WithBatch makes each query of the sweep read at most n orders; tests use
// it to sweep more orders than a batch holds.
func WithBatch(n int) Option {
	return func(s *Sweeper) { s.batch = max(n, 1) }
}

// New returns a Sweeper cancelling, through orders, the orders overdue by
// more than grace, every interval, and counting them in m (nil counts
// nothing).
func New(orders *order.Service, grace, interval time.Duration, log *slog.Logger, m *metrics.Sweep, opts ...Option) (*Sweeper, error) {
	if grace <= 0 || interval <= 0 {
		return nil, fmt.Errorf("sweeper: grace %s and interval %s must be positive", grace, interval)
	}
	s := &Sweeper{
		orders:   orders,
		grace:    grace,
		interval: interval,
		batch:    DefaultBatch,
		log:      log,
		metrics:  m,
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Run sweeps at once, for what a previous process left, and then every
// interval, until ctx is done; it returns nil then. A failed sweep is
// logged and tried again at the next interval.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "sweep of overdue orders failed; retrying at the next interval", "err", err, "interval", s.interval.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep cancels the orders overdue by more than the grace period once, and
// returns how many it cancelled. Each is logged: it is an expiry the
// expiration service lost.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	swept, err := s.orders.SweepOverdue(ctx, s.grace, s.batch)
	for _, o := range swept {
		s.metrics.Swept()
		s.log.WarnContext(ctx, "cancelled an order whose expiration never came",
			"order_id", o.ID, "ticket_id", o.TicketID, "expires_at", o.ExpiresAt, "grace", s.grace.String())
	}
	if err != nil {
		return len(swept), fmt.Errorf("sweeper: %w", err)
	}
	return len(swept), nil
}
