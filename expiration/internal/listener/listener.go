// Package listener turns other services' events into expiration tasks: one
// file per subject consumed. A handler returns nil, and so acknowledges its
// event, only once Redis has stored the task; it returns an error, so that
// NATS Streaming delivers the event again, when Redis did not, and a
// permanent one (bus.Permanent), for the dead letters at once, when the
// event can never apply. The service keeps its dead letters in its Redis
// (package deadletter/redisstore).
package listener

import (
	"context"
	"log/slog"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/expiration/internal/task"
)

// Group is the expiration service's durable queue group: every instance of
// the service shares it, so each event is handled by one of them.
const Group = "expiration-service"

// Handlers handle the events of each subject.
type Handlers struct {
	tasks *task.Scheduler
	log   *slog.Logger
}

// New returns the handlers, which schedule tasks through tasks and log
// what they schedule to log.
func New(tasks *task.Scheduler, log *slog.Logger) *Handlers {
	return &Handlers{tasks: tasks, log: log}
}

// Subjects is a handler for each subject the service consumes: *Handlers,
// or in tests a wrapper of it that watches what each handler returns.
type Subjects interface {
	OrderCreated(ctx context.Context, e events.OrderCreated) error
}

// Subscribe subscribes each handler of hs to its subject in Group,
// redelivering unacked events after ackWait (bus.DefaultAckWait in
// production).
func Subscribe(ctx context.Context, conn *bus.Conn, ackWait time.Duration, hs Subjects) error {
	return bus.ListenAll(ctx,
		bus.NewListener(conn, Group, hs.OrderCreated).WithAckWait(ackWait).
			WithWorkers(bus.Workers, func(e events.OrderCreated) string { return e.ID }),
	)
}
