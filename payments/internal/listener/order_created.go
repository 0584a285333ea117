package listener

import (
	"context"
	"fmt"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/payments/internal/payment"
)

// OrderCreated stores the replica of a new order: who may pay for it, how
// much, and until when. A redelivery of an order already stored is acked
// without effect. An event that can never apply — a malformed id, or no
// buyer — goes to the dead letters at once.
func (h *Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	if err := mongodb.CheckID("order", e.ID); err != nil {
		return bus.Permanent(err)
	}
	if e.UserID == "" || !e.Status.Valid() {
		return bus.Permanent(fmt.Errorf("order:created %s without a buyer (%q) or with an unknown status %q", e.ID, e.UserID, e.Status))
	}
	return h.payments.AddOrder(ctx, payment.Order{
		ID:        e.ID,
		UserID:    e.UserID,
		Status:    e.Status,
		Price:     e.Ticket.Price,
		Version:   e.Version,
		ExpiresAt: e.ExpiresAt.Time,
	})
}
