// Package listener applies other services' events to tickets: one file per
// subject consumed. Each handler returns nil, and so acknowledges its event,
// only once its write and the event announcing it are stored; it returns
// an error, so that NATS Streaming delivers the event again, when the event
// cannot be applied yet, and a permanent one (bus.Permanent), for the dead
// letters at once, when it never can be.
package listener

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/tickets/internal/ticket"
)

// Group is the tickets service's durable queue group: every instance of
// the service shares it, so each event is handled by one of them.
const Group = "tickets-service"

// Handlers handle the events of each subject.
type Handlers struct {
	tickets *ticket.Service
	log     *slog.Logger
}

// New returns the handlers, which apply events through tickets and log
// what they change to log.
func New(tickets *ticket.Service, log *slog.Logger) *Handlers {
	return &Handlers{tickets: tickets, log: log}
}

// Subjects is a handler for each subject the service consumes: *Handlers,
// or in tests a wrapper of it that watches what each handler returns.
type Subjects interface {
	OrderCreated(ctx context.Context, e events.OrderCreated) error
	OrderCancelled(ctx context.Context, e events.OrderCancelled) error
}

// unknownTicket marks err permanent when it is ticket.ErrNotFound, and
// returns it otherwise as it is.
//
// An order event for a ticket this service does not hold can never apply,
// and no race makes one look unknown for a while: tickets owns tickets.
// The ticket is inserted with its ticket:created pending in the same
// document, and the outbox relay publishes that event only once the insert
// is acknowledged; orders takes an order only for a ticket in its replica,
// which only ticket:created fills, and publishes the order's events after
// that. So an order event can only name a ticket whose insert this
// service's database had already acknowledged, and tickets are never
// deleted. A ticket it cannot find was never its own (or its database lost
// it): redelivering would only repeat the failure until the delivery
// limit, so the event goes to the dead letters at once, for an operator.
func unknownTicket(err error) error {
	if errors.Is(err, ticket.ErrNotFound) {
		return bus.Permanent(err)
	}
	return err
}

// Subscribe subscribes each handler of hs to its subject in Group,
// redelivering unacked events after ackWait (bus.DefaultAckWait in
// production). The events of one ticket are applied one after the other, in
// order.
func Subscribe(ctx context.Context, conn *bus.Conn, ackWait time.Duration, hs Subjects) error {
	return bus.ListenAll(ctx,
		bus.NewListener(conn, Group, hs.OrderCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.OrderCreated) string { return e.Ticket.ID }),
		bus.NewListener(conn, Group, hs.OrderCancelled).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.OrderCancelled) string { return e.Ticket.ID }),
	)
}
