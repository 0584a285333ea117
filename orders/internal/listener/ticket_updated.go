package listener

import (
	"context"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// TicketUpdated applies a new version of a ticket to the replica, in
// version order: an event whose previous version has not been applied yet
// (ticket:updated may overtake ticket:created and its own predecessors,
// which travel on other channels or are redelivered) is not acked, so that
// it comes back once they are. A version already applied is acked.
func (h *Handlers) TicketUpdated(ctx context.Context, e events.TicketUpdated) error {
	err := h.orders.UpdateTicket(ctx, order.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, Version: e.Version})
	if unusable(err) {
		h.log.ErrorContext(ctx, "dropping ticket:updated for a malformed id", "ticket_id", e.ID, "err", err)
		return nil
	}
	return err
}
