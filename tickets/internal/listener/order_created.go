package listener

import (
	"context"
	"log/slog"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/tickets/internal/ticket"
)

// OrderCreated returns the handler of order:created: the order locks its
// ticket, and ticket:updated announces the lock with the order's id.
//
// A redelivery for an order that holds or has released the ticket is
// acknowledged without effect. For a ticket another order still holds, it
// fails: that order's order:cancelled has yet to be applied.
func OrderCreated(tickets *ticket.Service, log *slog.Logger) bus.Handler[events.OrderCreated] {
	return func(ctx context.Context, e events.OrderCreated) error {
		if err := checkIDs(e.Ticket.ID, e.ID); err != nil {
			return err
		}
		changed, err := tickets.Reserve(ctx, e.Ticket.ID, e.ID)
		if err != nil {
			return err
		}
		log.InfoContext(ctx, "ticket reserved", "ticket_id", e.Ticket.ID, "order_id", e.ID, "changed", changed)
		return nil
	}
}
