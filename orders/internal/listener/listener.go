// Package listener consumes the events the orders service listens to, one
// file per subject. A handler returns nil — and its event is acked — only
// once its writes, and the events they cause, are stored; it returns an
// error to have the event delivered again later.
package listener

import (
	"context"
	"errors"
	"fmt"
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

// Listen subscribes every handler to its subject in Group, redelivering
// unacked events after ackWait (bus.DefaultAckWait in production).
func (h *Handlers) Listen(ctx context.Context, conn *bus.Conn, ackWait time.Duration) error {
	listeners := []interface{ Listen(context.Context) error }{
		bus.NewListener(conn, Group, h.TicketCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.TicketCreated) string { return e.ID }),
		bus.NewListener(conn, Group, h.TicketUpdated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.TicketUpdated) string { return e.ID }),
		bus.NewListener(conn, Group, h.ExpirationComplete).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.ExpirationComplete) string { return e.OrderID }),
		bus.NewListener(conn, Group, h.PaymentCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.PaymentCreated) string { return e.OrderID }),
	}
	for _, l := range listeners {
		if err := l.Listen(ctx); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	return nil
}

// unusable reports whether err means the event can never be applied, so
// that redelivering it cannot help: it names an id that is no ObjectID.
func unusable(err error) bool {
	return errors.Is(err, order.ErrInvalidID)
}

// permanentIfUnusable marks err for the dead letters at once when it is
// unusable; other errors are delivered again.
func permanentIfUnusable(err error) error {
	if unusable(err) {
		return bus.Permanent(err)
	}
	return err
}
