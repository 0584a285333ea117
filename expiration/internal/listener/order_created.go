package listener

import (
	"context"
	"time"

	"ticketing.dev/common/events"
)

// scheduleTimeout bounds the wait for Redis, below the bus's 5 s ack wait,
// so that a stalled Redis fails the delivery before it is redelivered.
const scheduleTimeout = 4 * time.Second

// OrderCreated schedules the end of the order's lock: at its expiresAt, a
// task publishes expiration:complete.
//
// A redelivery schedules nothing more: the task's id is the order's. An
// event without an order id or expiresAt is logged and acknowledged, like
// an undecodable one: delivering it again cannot help, and guessing a time
// could release a ticket its buyer still holds.
func (h *Handlers) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	if e.ID == "" || e.ExpiresAt.IsZero() {
		h.log.ErrorContext(ctx, "dropping order:created without an order id or expiresAt", "order_id", e.ID, "expires_at", e.ExpiresAt.Time)
		return nil
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
