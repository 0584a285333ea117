// Package listener consumes the events the payments service listens to, one
// file per subject. A handler returns nil — and its event is acked — only
// once its write is stored; it returns an error to have the event delivered
// again later.
package listener

import (
	"context"
	"errors"
	"fmt"
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

// Listen subscribes every handler to its subject in Group, redelivering
// unacked events after ackWait (bus.DefaultAckWait in production).
func (h *Handlers) Listen(ctx context.Context, conn *bus.Conn, ackWait time.Duration) error {
	listeners := []interface{ Listen(context.Context) error }{
		bus.NewListener(conn, Group, h.OrderCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.OrderCreated) string { return e.ID }),
		bus.NewListener(conn, Group, h.OrderCancelled).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.OrderCancelled) string { return e.ID }),
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
	return errors.Is(err, payment.ErrMalformedID)
}

// permanentIfUnusable marks err for the dead letters at once when it is
// unusable; other errors are delivered again.
func permanentIfUnusable(err error) error {
	if unusable(err) {
		return bus.Permanent(err)
	}
	return err
}
