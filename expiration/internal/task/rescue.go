package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
)

// Rescue settings.
const (
	// DefaultStuckAfter is how long after its order's expiresAt a task may
	// stay active before it counts as stuck. A live handler is done within
	// about a second of expiresAt plus one publish, which NATS Streaming
	// acks or fails within 5 s.
	DefaultStuckAfter = 10 * time.Second
	// DefaultSweepEvery is how often the Rescuer looks for stuck tasks.
	DefaultSweepEvery = 2 * time.Second
	// sweepPage bounds how many active tasks one sweep reads.
	sweepPage = 500
)

// Rescuer publishes the expirations of tasks left active by a worker that
// died while running them (SIGKILL, out of memory, a lost node). asynq
// gives such a task to another worker only once its lease has been expired
// for 30 s, and looks for those once a minute, so the order's ticket would
// stay locked up to two minutes past its window; the chaos tests saw 64 s.
//
// Publishing from here is safe although the task will run again once asynq
// recovers it: an order is cancelled at most once, and an expiration for an
// order already cancelled or complete changes nothing. It is never early,
// since only tasks well past their expiresAt count as stuck.
//
// Lateness counts from the order's expiresAt, which is all an active task
// tells: a live worker whose publish has waited that long, or that took
// the task late from a backlog, is rescued too. Its log line says
// "orphaned" when asynq holds the worker's lease expired, that is when the
// worker is gone.
type Rescuer struct {
	inspector  *asynq.Inspector
	pub        Publisher
	log        *slog.Logger
	stuckAfter time.Duration
	every      time.Duration
	metrics    *metrics.Expiration // nil records nothing
	// rescued are the tasks published already, so that a task asynq has
	// not recovered yet is published once per process, not every sweep.
	rescued map[string]bool
}

// RescueOption configures a Rescuer.
type RescueOption func(*Rescuer)

// WithStuckAfter sets how long past its expiresAt an active task counts as
// stuck; tests shorten it.
func WithStuckAfter(d time.Duration) RescueOption { return func(r *Rescuer) { r.stuckAfter = d } }

// WithSweepEvery sets how often the Rescuer looks; tests shorten it.
func WithSweepEvery(d time.Duration) RescueOption { return func(r *Rescuer) { r.every = d } }

// WithRescueMetrics records how late after its order's expiresAt each
// rescued expiration:complete is published, in m, with the Handler's: a
// rescue is the latest an order expires, and leaving it out would hide
// the worst of the lateness.
func WithRescueMetrics(m *metrics.Expiration) RescueOption {
	return func(r *Rescuer) { r.metrics = m }
}

// NewRescuer returns a Rescuer for the tasks in Redis at rc, which the
// caller keeps and closes, publishing through pub.
func NewRescuer(rc redis.UniversalClient, pub Publisher, log *slog.Logger, opts ...RescueOption) *Rescuer {
	r := &Rescuer{
		inspector:  asynq.NewInspectorFromRedisClient(rc),
		pub:        pub,
		log:        log.With("component", "rescuer"),
		stuckAfter: DefaultStuckAfter,
		every:      DefaultSweepEvery,
		rescued:    make(map[string]bool),
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Run sweeps until ctx is done, then returns nil. A failure is logged
// when it starts and when it ends, not at every sweep, and tried again at
// the next sweep.
func (r *Rescuer) Run(ctx context.Context) error {
	tick := time.NewTicker(r.every)
	defer tick.Stop()
	failing := false
	for {
		err := r.sweep(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			r.log.Warn("looking for stuck expirations failed; trying again every sweep", "err", err, "every", r.every)
			failing = true
		case err == nil && failing:
			r.log.Info("looking for stuck expirations works again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// sweep publishes the expiration of every stuck task not rescued yet.
func (r *Rescuer) sweep(ctx context.Context) error {
	active, err := r.inspector.ListActiveTasks(Queue, asynq.PageSize(sweepPage))
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil // nothing was ever scheduled
	}
	if err != nil {
		return fmt.Errorf("task: list active tasks: %w", err)
	}
	seen := make(map[string]bool, len(active))
	for _, t := range active {
		seen[t.ID] = true
		var p Payload
		if t.Type != TypeOrderExpiration || json.Unmarshal(t.Payload, &p) != nil || p.OrderID == "" {
			continue // the handler skips it too
		}
		late := time.Since(p.ExpiresAt.Time)
		if r.rescued[t.ID] || late < r.stuckAfter {
			continue
		}
		if err := r.pub.PublishID(ctx, eventID(p.OrderID), events.ExpirationComplete{OrderID: p.OrderID}); err != nil {
			return fmt.Errorf("task: rescue expiration of order %s: %w", p.OrderID, err)
		}
		r.metrics.Published(time.Since(p.ExpiresAt.Time))
		r.rescued[t.ID] = true
		r.log.WarnContext(ctx, "published the expiration of a task still active past its time",
			"order_id", p.OrderID, "late_ms", late.Milliseconds(), "orphaned", t.IsOrphaned)
	}
	for id := range r.rescued {
		if !seen[id] {
			delete(r.rescued, id) // recovered by asynq, or done
		}
	}
	return nil
}
