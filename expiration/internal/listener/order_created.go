package listener

import (
	"context"
	"fmt"
	"time"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
)

// scheduleTimeout bounds the wait for Redis, below the bus's 5 s ack wait,
// so that a stalled Redis fails the delivery before it is redelivered.
const scheduleTimeout = 4 * time.Second

// OrderCreated schedules the end of the order's lock: at its expiresAt, a
// task publishes expiration:complete.
//
// A redelivery schedules nothing more: the task's id is the order's. An
// event whose order id is missing or malformed, or without expiresAt, goes
// to the dead letters at once: delivering it again cannot help, and
// guessing a time could release a ticket its buyer still holds.
func (h *Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	if err := mongodb.CheckID("order", e.ID); err != nil {
		return bus.Permanent(err)
	}
	if e.ExpiresAt.IsZero() {
		return bus.Permanent(fmt.Errorf("order:created %s without expiresAt", e.ID))
	}
	ctx, cancel := context.WithTimeout(ctx, scheduleTimeout)
	defer cancel()
	scheduled, err := h.tasks.Schedule(ctx, e.ID, e.ExpiresAt.Time)
	if err != nil {
		return err
	}
	h.log.InfoContext(ctx, "order expiration scheduled", "order_id", e.ID, "expires_at", e.ExpiresAt.String(), "already_scheduled", !scheduled)
	return nil
}
