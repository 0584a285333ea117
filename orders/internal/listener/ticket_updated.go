package listener

import (
	"context"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/orders/internal/order"
)

// TicketUpdated applies a new version of a ticket to the replica, in
// version order: an event whose previous version has not been applied yet
// (ticket:updated may overtake ticket:created and its own predecessors,
// which travel on other channels or are redelivered) is not acked, so that
// it comes back once they are (or goes to the dead letters, should they
// never come). A version already applied is acked; an event with a
// malformed id goes to the dead letters at once.
func (h *Handlers) TicketUpdated(ctx context.Context, e events.TicketUpdated) error {
	if err := mongodb.CheckID("ticket", e.ID); err != nil {
		return bus.Permanent(err)
	}
	return h.orders.UpdateTicket(ctx, order.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, Version: e.Version})
}
