package order

import "ticketing.dev/common/events"

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

// Expire is the rule of an order's lock running out: the order is cancelled
// unless it was paid in time. An order already cancelled stays as it is.
func Expire(o Order) (events.OrderStatus, error) {
	if o.Status == events.StatusComplete || o.Status == events.StatusCancelled {
		return o.Status, nil
	}
	return events.StatusCancelled, nil
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
