package listener

import (
	"context"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/orders/internal/order"
)

// TicketCreated adds the new ticket to the replica. A redelivery of an
// event already applied changes nothing and is acked; one with a malformed
// id goes to the dead letters at once.
func (h *Handlers) TicketCreated(ctx context.Context, e events.TicketCreated) error {
	if err := mongodb.CheckID("ticket", e.ID); err != nil {
		return bus.Permanent(err)
	}
	return h.orders.AddTicket(ctx, order.Ticket{ID: e.ID, Title: e.Title, Price: e.Price, Version: e.Version})
}
