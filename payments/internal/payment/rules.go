package payment

import (
	"time"

	"ticketing.dev/common/events"
)

// CheckOwner fails with ErrNotOwner unless the order is userID's.
func (o Order) CheckOwner(userID string) error {
	if o.UserID != userID {
		return ErrNotOwner
	}
	return nil
}

// CheckPayable fails with ErrOrderCancelled when the order is cancelled or
// its lock ran out at now. An expired order counts as cancelled before its
// order:cancelled arrives: its ticket may already be on sale again, and a
// payment must never complete an order whose lock has expired.
func (o Order) CheckPayable(now time.Time) error {
	if o.Status == events.StatusCancelled || !now.Before(o.ExpiresAt) {
		return ErrOrderCancelled
	}
	return nil
}

// CheckTimeLeft fails with ErrTooLittleTime when less than need is left at
// now before the order's lock runs out: a charge started then could finish
// after it, and end in a refund.
func (o Order) CheckTimeLeft(now time.Time, need time.Duration) error {
	if o.ExpiresAt.Sub(now) < need {
		return ErrTooLittleTime
	}
	return nil
}
