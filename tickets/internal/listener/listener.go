// Package listener applies other services' events to tickets: one file per
// subject consumed. Each handler returns nil, and so acknowledges its event,
// only once its write and the event announcing it are stored; it returns
// an error, so that NATS Streaming delivers the event again, when the event
// cannot be applied yet.
package listener

import (
	"context"
	"fmt"
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

// checkIDs fails, for the dead letters at once, when an event does not name
// its ticket and order such that applying it could ever succeed: delivering
// it again cannot help.
func checkIDs(ticketID, orderID string) error {
	if web.ValidID(ticketID) && orderID != "" {
		return nil
	}
	return bus.Permanent(fmt.Errorf("malformed ticket id %q or order id %q", ticketID, orderID))
}
