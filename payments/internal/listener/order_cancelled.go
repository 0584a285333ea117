package listener

import (
	"context"

	"ticketing.dev/common/events"
)

// OrderCancelled marks the replica of an order cancelled, in version order:
// an event whose previous version the replica does not hold yet (it may
// overtake its order:created, which travels on another channel) is not
// acked, so that it comes back once that has been applied. A version
// already applied is acked without effect.
func (h *Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	err := h.payments.CancelOrder(ctx, e.ID, e.Version)
	if unusable(err) {
		h.log.ErrorContext(ctx, "dropping order:cancelled for a malformed id", "order_id", e.ID, "err", err)
		return nil
	}
	return err
}
