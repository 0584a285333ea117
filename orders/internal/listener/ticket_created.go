package listener

import (
	"context"

	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// TicketCreated adds the new ticket to the replica. A redelivery of an
// event already applied changes nothing and is acked.
func (h *Handlers) TicketCreated(ctx context.Context, e events.TicketCreated) error {
	err := h.orders.AddTicket(ctx, order.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, Version: e.Version})
	if unusable(err) {
		h.log.ErrorContext(ctx, "dropping ticket:created for a malformed id", "ticket_id", e.ID, "err", err)
		return nil
	}
	return err
}
