package order

import (
	"context"
	"errors"
	"fmt"
	"time"

	"ticketing.dev/common/events"
)

// DefaultWindow is how long an order locks its ticket unless configured
// otherwise: the time a buyer has to pay.
const DefaultWindow = 15 * time.Minute

// Service places, shows and changes orders, and keeps the ticket replicas
// they are placed against.
type Service struct {
	store  Store
	window time.Duration
	now    func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the Service read the time from now; tests use it.
func WithClock(now func() time.Time) Option {
	return func(s *Service) { s.now = now }
}

// NewService returns a Service keeping orders in store whose orders lock
// their ticket for window.
func NewService(store Store, window time.Duration, opts ...Option) *Service {
	s := &Service{store: store, window: window, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Place orders ticket ticketID for the user: the ticket is locked for the
// Service's window. It fails with ErrTicketNotFound for an unknown ticket and
// with ErrReserved when another active order holds it.
func (s *Service) Place(ctx context.Context, userID, ticketID string) (View, error) {
	t, err := s.store.Ticket(ctx, ticketID)
	if err != nil {
		return View{}, fmt.Errorf("place order: %w", err)
	}
	o := Order{
		UserID: userID,
		Status: events.StatusCreated,
		// The wire and MongoDB keep milliseconds; keeping no more here makes
		// the order returned the order stored.
		ExpiresAt: s.now().Add(s.window).UTC().Truncate(time.Millisecond),
		TicketID:  t.ID,
	}
	o, err = s.store.Create(ctx, o, t)
	if err != nil {
		return View{}, fmt.Errorf("place order: %w", err)
	}
	return View{Order: o, Ticket: t}, nil
}

// Order returns the user's order with its ticket. It fails with ErrNotFound
// for an unknown order and ErrNotOwner for another user's.
func (s *Service) Order(ctx context.Context, userID, id string) (View, error) {
	v, err := s.store.Order(ctx, id)
	if err != nil {
		return View{}, fmt.Errorf("get order: %w", err)
	}
	if v.UserID != userID {
		return View{}, ErrNotOwner
	}
	return v, nil
}

// OrdersOf returns the user's orders of page with their tickets, oldest
// first, and whether more follow the page.
func (s *Service) OrdersOf(ctx context.Context, userID string, page Page) (vs []View, more bool, err error) {
	vs, more, err = s.store.OrdersOf(ctx, userID, page)
	if err != nil {
		return nil, false, fmt.Errorf("list orders: %w", err)
	}
	return vs, more, nil
}

// Cancel cancels the user's order by the rule CancelBy.
func (s *Service) Cancel(ctx context.Context, userID, id string) (Order, error) {
	o, err := s.store.Update(ctx, id, CancelBy(userID))
	if err != nil {
		return o, fmt.Errorf("cancel order: %w", err)
	}
	return o, nil
}

// EarlyWait is how early an expiry may come and still be waited for
// rather than refused: the expiration service's clock a little ahead of
// ours, as clocks of two machines are. Refused, it would come back only
// after the bus's ack wait, seconds late.
const EarlyWait = time.Second

// Expire cancels an order whose lock ran out, by the rule Expire at the
// Service's clock. An order due within EarlyWait is waited for; one due
// later fails with ErrNotDue.
func (s *Service) Expire(ctx context.Context, id string) (Order, error) {
	o, _, err := s.expire(ctx, id, s.now())
	if errors.Is(err, ErrNotDue) {
		if wait := o.ExpiresAt.Sub(s.now()); wait > 0 && wait <= EarlyWait {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return o, fmt.Errorf("expire order: %w", ctx.Err())
			case <-t.C:
			}
			o, _, err = s.expire(ctx, id, s.now())
		}
	}
	if err != nil {
		return o, fmt.Errorf("expire order: %w", err)
	}
	return o, nil
}

// expire applies the rule Expire at now to the order, and reports whether
// this call is the one that cancelled it.
func (s *Service) expire(ctx context.Context, id string, now time.Time) (o Order, cancelled bool, err error) {
	rule := Expire(now)
	o, err = s.store.Update(ctx, id, func(o Order) (events.OrderStatus, error) {
		// Update may apply the rule more than once; the last time is the
		// one it stores.
		next, err := rule(o)
		cancelled = err == nil && next != o.Status
		return next, err
	})
	return o, cancelled && err == nil, err
}

// SweepOverdue cancels, by the rule Expire, the orders still unpaid and
// active whose expiresAt passed more than grace ago by the Service's clock:
// those whose expiration:complete never came, because the expiration
// service lost its scheduled jobs. It reads them limit at a time, earliest
// first, and goes on while a full batch made progress, so that one pass
// works off a backlog. It returns the orders it cancelled, with the errors
// of those it could not, which the next pass tries again.
func (s *Service) SweepOverdue(ctx context.Context, grace time.Duration, limit int) ([]Order, error) {
	var (
		swept []Order
		errs  []error
	)
	for {
		now := s.now()
		ids, err := s.store.Overdue(ctx, now.Add(-grace), limit)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep overdue orders: %w", err))
			break
		}
		settled := 0
		for _, id := range ids {
			if ctx.Err() != nil {
				break
			}
			o, cancelled, err := s.expire(ctx, id, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("sweep order %s: %w", id, err))
				continue
			}
			settled++
			if cancelled {
				swept = append(swept, o)
			}
		}
		// A batch that was not full was the last; one in which nothing
		// could be settled would be read again as it is.
		if len(ids) < limit || settled == 0 || ctx.Err() != nil {
			break
		}
	}
	return swept, errors.Join(errs...)
}

// Pay completes a paid order, by the rule Pay.
func (s *Service) Pay(ctx context.Context, id string) (Order, error) {
	o, err := s.store.Update(ctx, id, Pay)
	if err != nil {
		return o, fmt.Errorf("complete order: %w", err)
	}
	return o, nil
}

// AddTicket stores the replica of a new ticket; see Store.AddTicket.
func (s *Service) AddTicket(ctx context.Context, t Ticket) error {
	if err := s.store.AddTicket(ctx, t); err != nil {
		return fmt.Errorf("add ticket: %w", err)
	}
	return nil
}

// UpdateTicket applies a new version of a ticket; see Store.UpdateTicket.
func (s *Service) UpdateTicket(ctx context.Context, t Ticket) error {
	if err := s.store.UpdateTicket(ctx, t); err != nil {
		return fmt.Errorf("update ticket: %w", err)
	}
	return nil
}
