package listener

import (
	"context"
	"log/slog"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/expiration/internal/task"
)

// scheduleTimeout bounds the wait for Redis, below the bus's 5 s ack wait,
// so that a stalled Redis fails the delivery before it is redelivered.
const scheduleTimeout = 4 * time.Second

// OrderCreated returns the handler of order:created: the order's lock runs
// out at its expiresAt, when a task publishes expiration:complete.
//
// A redelivery schedules nothing more: the task's id is the order's. An
// event without an order id or expiresAt is logged and acknowledged, like
// an undecodable one: delivering it again cannot help, and guessing a time
// could release a ticket its buyer still holds.
func OrderCreated(tasks *task.Scheduler, log *slog.Logger) bus.Handler[events.OrderCreated] {
	return func(ctx context.Context, e events.OrderCreated) error {
		if e.ID == "" || e.ExpiresAt.IsZero() {
			log.ErrorContext(ctx, "dropping order:created without an order id or expiresAt", "order_id", e.ID, "expires_at", e.ExpiresAt.Time)
			return nil
		}
		ctx, cancel := context.WithTimeout(ctx, scheduleTimeout)
		defer cancel()
		scheduled, err := tasks.Schedule(ctx, e.ID, e.ExpiresAt.Time)
		if err != nil {
			return err
		}
		log.InfoContext(ctx, "order expiration scheduled", "order_id", e.ID, "expires_at", e.ExpiresAt.String(), "already_scheduled", !scheduled)
		return nil
	}
}
