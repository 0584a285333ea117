package listener

import (
	"context"
	"errors"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
)

// OrderCreated locks the order's ticket, and ticket:updated announces the
// lock with the order's id.
//
// A redelivery for an order that holds or has released the ticket is
// acknowledged without effect. For a ticket another order still holds, it
// fails: that order's order:cancelled has yet to be applied. An event with
// a malformed id, or for a ticket this service never stored, goes to the
// dead letters at once (see unknownTicket).
func (h *Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	if err := errors.Join(mongodb.CheckID("ticket", e.Ticket.ID), mongodb.CheckID("order", e.ID)); err != nil {
		return bus.Permanent(err)
	}
	changed, err := h.tickets.Reserve(ctx, e.Ticket.ID, e.ID)
	if err != nil {
		return unknownTicket(err)
	}
	h.log.InfoContext(ctx, "ticket reserved", "ticket_id", e.Ticket.ID, "order_id", e.ID, "changed", changed)
	return nil
}
