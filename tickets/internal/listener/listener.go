// Package listener applies other services' events to tickets: one file per
// subject consumed. Each handler returns nil, and so acknowledges its event,
// only once its write and the event announcing it are stored; it returns
// an error, so that NATS Streaming delivers the event again, when the event
// cannot be applied yet.
package listener

import (
	"context"
	"log/slog"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/web"
	"ticketing.dev/tickets/internal/ticket"
)

// Group is the durable queue group, and durable name, of the service's
// subscriptions.
const Group = "tickets-service"

// Listen subscribes the handlers of every consumed subject. Events are
// handled until conn is closed.
func Listen(ctx context.Context, conn *bus.Conn, tickets *ticket.Service, log *slog.Logger) error {
	// Events of one ticket are applied one after the other, in order.
	if err := bus.NewListener(conn, Group, OrderCreated(tickets, log)).
		WithWorkers(bus.Workers, func(e events.OrderCreated) string { return e.Ticket.ID }).
		Listen(ctx); err != nil {
		return err
	}
	return bus.NewListener(conn, Group, OrderCancelled(tickets, log)).
		WithWorkers(bus.Workers, func(e events.OrderCancelled) string { return e.Ticket.ID }).
		Listen(ctx)
}

// validIDs reports whether an event names its ticket and order such that
// applying it could ever succeed. One that does not is logged and
// acknowledged, like an undecodable event: delivering it again cannot help.
func validIDs(ctx context.Context, log *slog.Logger, subject, ticketID, orderID string) bool {
	if web.ValidID(ticketID) && orderID != "" {
		return true
	}
	log.ErrorContext(ctx, "dropping event with a malformed ticket or order id", "subject", subject, "ticket_id", ticketID, "order_id", orderID)
	return false
}
