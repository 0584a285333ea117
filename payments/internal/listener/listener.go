// Package listener consumes the events the payments service listens to, one
// file per subject. A handler returns nil — and its event is acked — only
// once its write is stored; it returns an error to have the event delivered
// again later, and a permanent one (bus.Permanent), for the dead letters at
// once, when it never can apply.
package listener

import (
	"context"
	"log/slog"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/payments/internal/payment"
)

// Group is the payments service's durable queue group: every instance of
// the service shares it, so each event is handled by one of them.
const Group = "payments-service"

// Handlers handle the events of each subject.
type Handlers struct {
	payments *payment.Service
	log      *slog.Logger
}

// New returns the handlers, which apply events through payments and log
// what they drop to log.
func New(payments *payment.Service, log *slog.Logger) *Handlers {
	return &Handlers{payments: payments, log: log}
}

// Subjects is a handler for each subject the service consumes: *Handlers,
// or in tests a wrapper of it that watches what each handler returns.
type Subjects interface {
	OrderCreated(ctx context.Context, e events.OrderCreated) error
	OrderCancelled(ctx context.Context, e events.OrderCancelled) error
}

// Subscribe subscribes each handler of hs to its subject in Group,
// redelivering unacked events after ackWait (bus.DefaultAckWait in
// production). The events of one order are applied one after the other, in
// order.
func Subscribe(ctx context.Context, conn *bus.Conn, ackWait time.Duration, hs Subjects) error {
	return bus.ListenAll(ctx,
		bus.NewListener(conn, Group, hs.OrderCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.OrderCreated) string { return e.ID }),
		bus.NewListener(conn, Group, hs.OrderCancelled).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.OrderCancelled) string { return e.ID }),
	)
}
