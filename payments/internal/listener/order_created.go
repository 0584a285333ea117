package listener

import (
	"context"

	"ticketing.dev/common/events"
	"ticketing.dev/payments/internal/payment"
)

// OrderCreated stores the replica of a new order: who may pay for it, how
// much, and until when. A redelivery of an order already stored is acked
// without effect. An event that can never apply — a malformed id, or no
// buyer — is logged and acked.
func (h *Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	if e.UserID == "" || !e.Status.Valid() {
		h.log.ErrorContext(ctx, "dropping order:created without a buyer or a valid status",
			"order_id", e.ID, "user_id", e.UserID, "status", e.Status)
		return nil
	}
	err := h.payments.AddOrder(ctx, payment.Order{
		ID:        e.ID,
		UserID:    e.UserID,
		Status:    e.Status,
		Price:     e.Ticket.Price,
		Version:   e.Version,
		ExpiresAt: e.ExpiresAt.Time,
	})
	if unusable(err) {
		h.log.ErrorContext(ctx, "dropping order:created for a malformed id", "order_id", e.ID, "err", err)
		return nil
	}
	return err
}
