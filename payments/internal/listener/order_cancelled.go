package listener

import (
	"context"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
)

// OrderCancelled marks the replica of an order cancelled, then refunds its
// payment if it succeeded, and acks only once the refund is recorded (see
// payment.Service.CancelOrder). It applies cancellations in version order:
// an event whose previous version the replica does not hold yet (it may
// overtake its order:created, which travels on another channel) is not
// acked, so that it comes back once that has been applied. A version
// already applied is acked without effect; one with a malformed id goes to
// the dead letters at once.
func (h *Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	if err := mongodb.CheckID("order", e.ID); err != nil {
		return bus.Permanent(err)
	}
	return h.payments.CancelOrder(ctx, e.ID, e.Version)
}
