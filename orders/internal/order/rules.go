package order

import (
	"fmt"
	"time"

	"ticketing.dev/common/events"
)

// CancelBy is the rule of a buyer cancelling an order: only its buyer may,
// and a paid order cannot be cancelled. Cancelling a cancelled order changes
// nothing, so a repeated request does not announce a second cancellation.
func CancelBy(userID string) Rule {
	return func(o Order) (events.OrderStatus, error) {
		if o.UserID != userID {
			return o.Status, ErrNotOwner
		}
		switch o.Status {
		case events.StatusComplete:
			return o.Status, ErrCompleted
		case events.StatusCancelled:
			return o.Status, nil
		}
		return events.StatusCancelled, nil
	}
}

// Expire is the rule of an order's lock running out, as seen at now by the
// orders service's own clock: the order is cancelled unless it was paid in
// time. An order already cancelled stays as it is, and so does a complete
// one, whenever the rule is applied.
//
// An active order whose expiresAt is still after now is not cancelled,
// whoever asks: the clock of the service that sent expiration:complete may
// run ahead of ours, and its scheduler may run a job up to a second early.
// That is ErrNotDue.
func Expire(now time.Time) Rule {
	return func(o Order) (events.OrderStatus, error) {
		if o.Status == events.StatusComplete || o.Status == events.StatusCancelled {
			return o.Status, nil
		}
		if now.Before(o.ExpiresAt) {
			return o.Status, fmt.Errorf("%w: order %s expires at %s, %s from now",
				ErrNotDue, o.ID, o.ExpiresAt.Format(time.RFC3339Nano), o.ExpiresAt.Sub(now))
		}
		return events.StatusCancelled, nil
	}
}

// Pay is the rule of a payment arriving: the order is complete. A payment
// never revives a cancelled order, whose ticket may already be sold to
// someone else: that is ErrPaidAfterCancel, and the charge must be refunded.
func Pay(o Order) (events.OrderStatus, error) {
	if o.Status == events.StatusCancelled {
		return o.Status, ErrPaidAfterCancel
	}
	return events.StatusComplete, nil
}
