package listener

import (
	"context"
	"errors"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// PaymentCreated completes a paid order. A redelivery for an order already
// complete changes nothing.
//
// A payment for an order that was cancelled meanwhile (its lock expired as
// the charge went through) does not revive the order, whose ticket may be
// sold to someone else by now: it is logged as an error so that the charge
// is refunded, and acked. So is a payment for an unknown order, which
// cannot turn up later: payments learns of orders from order:created, which
// is only published after the order is stored.
func (h *Handlers) PaymentCreated(ctx context.Context, e events.PaymentCreated) error {
	o, err := h.orders.Pay(ctx, e.OrderID)
	switch {
	case errors.Is(err, order.ErrPaidAfterCancel):
		h.log.ErrorContext(ctx, "payment for a cancelled order: refund it",
			"order_id", e.OrderID, "payment_id", e.ID, "stripe_id", e.StripeID, "ticket_id", o.TicketID)
		return nil
	case errors.Is(err, order.ErrNotFound) || unusable(err):
		h.log.ErrorContext(ctx, "payment for an unknown order: refund it",
			"order_id", e.OrderID, "payment_id", e.ID, "stripe_id", e.StripeID, "err", err)
		return nil
	}
	return err
}
