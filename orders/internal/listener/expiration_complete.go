package listener

import (
	"context"
	"errors"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// ExpirationComplete cancels an order whose lock ran out, unless it was
// paid; the cancellation's order:cancelled is stored with it. An order
// already cancelled stays as it is and no second event is sent.
//
// An expiration for an unknown order is acked: order:created, from which
// expiration schedules its job, is only ever published after the order is
// stored, so the order cannot turn up later and redelivering would only
// repeat the failure. It is logged as the bug it is.
func (h *Handlers) ExpirationComplete(ctx context.Context, e events.ExpirationComplete) error {
	_, err := h.orders.Expire(ctx, e.OrderID)
	if errors.Is(err, order.ErrNotFound) || unusable(err) {
		h.log.ErrorContext(ctx, "dropping expiration:complete for an unknown order", "order_id", e.OrderID, "err", err)
		return nil
	}
	return err
}
