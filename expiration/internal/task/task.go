// Package task keeps every order's lock in Redis, as an asynq task due when
// the lock runs out, and publishes expiration:complete when it does.
//
// asynq keeps due times in whole seconds, so a task can reach its handler
// up to a second before its order's expiresAt; the handler waits out the
// remainder, which makes the event never early and, with the short check
// intervals NewServer sets, only milliseconds late.
package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/events"
)

// TypeOrderExpiration is the asynq task type of an order's lock.
const TypeOrderExpiration = "order:expiration"

// Queue is the asynq queue the tasks live in. A queue of its own keeps them
// apart from any other asynq user of the same Redis.
const Queue = "expiration"

// Task options.
const (
	// taskTimeout bounds one run of the handler: the wait for the remainder
	// (under a second) plus a publish (NATS Streaming acks within 5 s).
	// A run that hangs longer is cancelled and retried.
	taskTimeout = time.Minute
	// retention keeps a finished task's id taken, so that an order:created
	// redelivered after its lock ran out does not expire the order twice.
	retention = 24 * time.Hour
	// maxRetry is as good as unlimited: expiration:complete must be
	// published however long NATS Streaming is away, or the ticket stays
	// locked for good.
	maxRetry = math.MaxInt32
)

// Payload is what a task carries: enough to publish expiration:complete
// and to know when.
type Payload struct {
	OrderID   string      `json:"orderId"`
	ExpiresAt events.Time `json:"expiresAt"`
}

// Scheduler stores tasks in Redis.
type Scheduler struct {
	client *asynq.Client
}

// NewScheduler returns a Scheduler storing tasks through rc, which the
// caller keeps and closes.
func NewScheduler(rc redis.UniversalClient) *Scheduler {
	return &Scheduler{client: asynq.NewClientFromRedisClient(rc)}
}

// Schedule stores the task of an order's lock, due at expiresAt (at once
// when that has passed). The order id is the task id, so scheduling an
// order again, as a redelivered order:created does, changes nothing: it
// reports scheduled false and no error. An error means Redis did not store
// the task.
func (s *Scheduler) Schedule(ctx context.Context, orderID string, expiresAt time.Time) (scheduled bool, err error) {
	p := Payload{OrderID: orderID, ExpiresAt: events.NewTime(expiresAt)}
	data, err := json.Marshal(p)
	if err != nil {
		return false, fmt.Errorf("task: encode payload of order %s: %w", orderID, err)
	}
	_, err = s.client.EnqueueContext(ctx, asynq.NewTask(TypeOrderExpiration, data),
		asynq.TaskID(orderID),
		asynq.Queue(Queue),
		asynq.ProcessAt(p.ExpiresAt.Time),
		asynq.MaxRetry(maxRetry),
		asynq.Timeout(taskTimeout),
		asynq.Retention(retention),
	)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("task: schedule expiration of order %s: %w", orderID, err)
	}
	return true, nil
}
