package listener

import (
	"context"
	"errors"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
)

// OrderCancelled puts the order's ticket up for sale again, and
// ticket:updated announces it without an order id.
//
// A redelivery for an order that has already released the ticket is
// acknowledged without effect. One that arrives before its order:created
// has been applied fails, to be delivered again after it, while the ticket
// is free; while another order holds it, the order is only remembered as
// released (see ticket.Ticket.Release). An event with a malformed id, or
// for a ticket this service never stored, goes to the dead letters at once
// (see unknownTicket).
func (h *Handlers) OrderCancelled(ctx context.Context, e events.OrderCancelled) error {
	if err := errors.Join(mongodb.CheckID("ticket", e.Ticket.ID), mongodb.CheckID("order", e.ID)); err != nil {
		return bus.Permanent(err)
	}
	changed, err := h.tickets.Release(ctx, e.Ticket.ID, e.ID)
	if err != nil {
		return unknownTicket(err)
	}
	h.log.InfoContext(ctx, "ticket released", "ticket_id", e.Ticket.ID, "order_id", e.ID, "changed", changed)
	return nil
}
