package listener

import (
	"context"
	"log/slog"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/tickets/internal/ticket"
)

// OrderCancelled returns the handler of order:cancelled: the order's ticket
// is for sale again, and ticket:updated announces it without an order id.
//
// A redelivery for an order that has already released the ticket is
// acknowledged without effect. One that arrives before its order:created
// has been applied fails, to be delivered again after it, while the ticket
// is free; while another order holds it, the order is only remembered as
// released (see ticket.Ticket.Release).
func OrderCancelled(tickets *ticket.Service, log *slog.Logger) bus.Handler[events.OrderCancelled] {
	return func(ctx context.Context, e events.OrderCancelled) error {
		if err := checkIDs(e.Ticket.ID, e.ID); err != nil {
			return err
		}
		changed, err := tickets.Release(ctx, e.Ticket.ID, e.ID)
		if err != nil {
			return err
		}
		log.InfoContext(ctx, "ticket released", "ticket_id", e.Ticket.ID, "order_id", e.ID, "changed", changed)
		return nil
	}
}
