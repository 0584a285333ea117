package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
)

// Publisher publishes expiration:complete; bus.Publisher is one. The id
// is the event's (see eventID): a transport that de-duplicates stores an
// order's expiration:complete once however often a retried or rescued task
// publishes it.
type Publisher interface {
	PublishID(ctx context.Context, id string, e events.ExpirationComplete) error
}

// eventID identifies the one expiration:complete of an order.
func eventID(orderID string) string { return "expiration:complete:" + orderID }

// Handler runs due tasks: it publishes expiration:complete for the order,
// no earlier than the order's expiresAt.
type Handler struct {
	pub     Publisher
	log     *slog.Logger
	metrics *metrics.Expiration // nil records nothing
}

// HandlerOption configures a Handler.
type HandlerOption func(*Handler)

// WithMetrics records how late after its order's expiresAt each
// expiration:complete is published, in m.
func WithMetrics(m *metrics.Expiration) HandlerOption {
	return func(h *Handler) { h.metrics = m }
}

// NewHandler returns a Handler publishing through pub.
func NewHandler(pub Publisher, log *slog.Logger, opts ...HandlerOption) *Handler {
	h := &Handler{pub: pub, log: log}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ProcessTask implements asynq.Handler. It returns an error, so that asynq
// tries again shortly, when the event could not be published; and ctx's
// error when ctx ends first, which asynq does when it gives up on a run (a
// shutdown that outlasted its timeout, an expired lease or task timeout)
// and has put the task back for another run.
func (h *Handler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	if t.Type() != TypeOrderExpiration {
		// Only Scheduler writes to the queue; retrying would not help.
		return fmt.Errorf("task: unknown type %q: %w", t.Type(), asynq.SkipRetry)
	}
	var p Payload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.OrderID == "" {
		return fmt.Errorf("task: unusable payload %q: %w", t.Payload(), errors.Join(err, asynq.SkipRetry))
	}
	if err := waitUntil(ctx, p.ExpiresAt.Time); err != nil {
		return fmt.Errorf("task: expiration of order %s: %w", p.OrderID, err)
	}
	if err := h.pub.PublishID(ctx, eventID(p.OrderID), events.ExpirationComplete{OrderID: p.OrderID}); err != nil {
		return fmt.Errorf("task: expiration of order %s: %w", p.OrderID, err)
	}
	late := time.Since(p.ExpiresAt.Time)
	h.metrics.Published(late)
	h.log.InfoContext(ctx, "order expired", "order_id", p.OrderID,
		"expires_at", p.ExpiresAt.String(), "late_ms", late.Milliseconds())
	return nil
}

// waitUntil returns once the wall clock has reached t, or ctx's error if
// ctx ends first. Timers run on the monotonic clock; checking the wall
// clock again after each keeps the promise of never early even if the
// wall clock was set back meanwhile.
func waitUntil(ctx context.Context, t time.Time) error {
	for {
		wait := time.Until(t)
		if wait <= 0 {
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}
