// Package listener consumes the events the orders service listens to, one
// file per subject. A handler returns nil — and its event is acked — only
// once its writes, and the events they cause, are stored; it returns an
// error to have the event delivered again later, and a permanent one
// (bus.Permanent), for the dead letters at once, when it never can apply.
package listener

import (
	"context"
	"log/slog"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/orders/internal/order"
)

// Group is the orders service's durable queue group: every instance of the
// service shares it, so each event is handled by one of them.
const Group = "orders-service"

// Handlers handle the events of each subject.
type Handlers struct {
	orders *order.Service
	log    *slog.Logger
}

// New returns the handlers, which apply events through orders and log
// what they drop to log.
func New(orders *order.Service, log *slog.Logger) *Handlers {
	return &Handlers{orders: orders, log: log}
}

// Subjects is a handler for each subject the service consumes: *Handlers,
// or in tests a wrapper of it that watches what each handler returns.
type Subjects interface {
	TicketCreated(ctx context.Context, e events.TicketCreated) error
	TicketUpdated(ctx context.Context, e events.TicketUpdated) error
	ExpirationComplete(ctx context.Context, e events.ExpirationComplete) error
	PaymentCreated(ctx context.Context, e events.PaymentCreated) error
}

// Subscribe subscribes each handler of hs to its subject in Group,
// redelivering unacked events after ackWait (bus.DefaultAckWait in
// production). The events of one ticket, and those of one order, are applied
// one after the other, in order.
func Subscribe(ctx context.Context, conn *bus.Conn, ackWait time.Duration, hs Subjects) error {
	return bus.ListenAll(ctx,
		bus.NewListener(conn, Group, hs.TicketCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.TicketCreated) string { return e.ID }),
		bus.NewListener(conn, Group, hs.TicketUpdated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.TicketUpdated) string { return e.ID }),
		bus.NewListener(conn, Group, hs.ExpirationComplete).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.ExpirationComplete) string { return e.OrderID }),
		bus.NewListener(conn, Group, hs.PaymentCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.PaymentCreated) string { return e.OrderID }),
	)
}
