package listener

import (
	"context"
	"errors"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/orders/internal/order"
)

// PaymentCreated completes a paid order. A redelivery for an order already
// complete changes nothing.
//
// A payment for an order that was cancelled meanwhile (its lock expired as
// the charge went through) does not revive the order, whose ticket may be
// sold to someone else by now: it is acked, and the payments service, which
// learns of the cancellation from order:cancelled, refunds the charge. A
// payment for an unknown order goes to the dead letters at once: it cannot
// turn up later, since payments learns of orders from order:created, which
// is only published after the order is stored. So does one with a
// malformed id.
func (h *Handlers) PaymentCreated(ctx context.Context, e events.PaymentCreated) error {
	if err := mongodb.CheckID("order", e.OrderID); err != nil {
		return bus.Permanent(err)
	}
	o, err := h.orders.Pay(ctx, e.OrderID)
	switch {
	case errors.Is(err, order.ErrPaidAfterCancel):
		h.log.WarnContext(ctx, "payment for a cancelled order; the payments service refunds it",
			"order_id", e.OrderID, "payment_id", e.ID, "stripe_id", e.StripeID, "ticket_id", o.TicketID)
		return nil
	case errors.Is(err, order.ErrNotFound):
		return bus.Permanent(err)
	}
	return err
}
