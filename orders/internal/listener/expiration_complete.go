package listener

import (
	"context"
	"errors"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/orders/internal/order"
)

// ExpirationComplete cancels an order whose lock ran out, unless it was
// paid; the cancellation's order:cancelled is stored with it. An order
// already cancelled stays as it is and no second event is sent.
//
// An expiration that arrives before the order's expiresAt by this service's
// clock (the expiration service's clock runs ahead, or its scheduler ran
// the job early) cancels nothing: the handler returns order.ErrNotDue, the
// event is not acked, and the bus delivers it again after the ack wait,
// until the order is due. Should the bus give up on it first, the sweep
// (package sweeper) cancels the order once its grace period has passed.
//
// An expiration for an unknown order goes to the dead letters at once:
// order:created, from which expiration schedules its job, is only ever
// published after the order is stored, so the order cannot turn up later
// and redelivering would only repeat the failure. So does one with a
// malformed id.
func (h *Handlers) ExpirationComplete(ctx context.Context, e events.ExpirationComplete) error {
	if err := mongodb.CheckID("order", e.OrderID); err != nil {
		return bus.Permanent(err)
	}
	_, err := h.orders.Expire(ctx, e.OrderID)
	if errors.Is(err, order.ErrNotFound) {
		return bus.Permanent(err)
	}
	return err
}
