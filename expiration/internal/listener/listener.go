// Package listener turns other services' events into expiration tasks: one
// file per subject consumed. A handler returns nil, and so acknowledges its
// event, only once Redis has stored the task; it returns an error, so that
// NATS Streaming delivers the event again, when Redis did not.
package listener

import (
	"context"
	"log/slog"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/expiration/internal/task"
)

// Group is the durable queue group, and durable name, of the service's
// subscriptions.
const Group = "expiration-service"

// Listen subscribes the handlers of every consumed subject. Events are
// handled until conn is closed.
func Listen(ctx context.Context, conn *bus.Conn, tasks *task.Scheduler, log *slog.Logger) error {
	return bus.NewListener(conn, Group, OrderCreated(tasks, log)).
		WithWorkers(bus.Workers, func(e events.OrderCreated) string { return e.ID }).
		Listen(ctx)
}
