package listener_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/expiration/internal/listener"
	"ticketing.dev/expiration/internal/task"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func orderCreated(id string, expiresAt time.Time) events.OrderCreated {
	return events.OrderCreated{
		ID:        id,
		Version:   0,
		Status:    "created",
		UserID:    "user-1",
		ExpiresAt: events.NewTime(expiresAt),
		Ticket:    events.OrderTicket{ID: "ticket-1"},
	}
}

func TestOrderCreated_RedeliveredEventSchedulesOnceAndExpiresOnce(t *testing.T) {
	n := testkit.NATS(t)
	rdb := redisClient(t, testkit.RedisServer(t))
	log := testkit.Logger(t)
	service := testkit.Bus(t, n)
	require.NoError(t, listener.New(task.NewScheduler(rdb), log).Listen(t.Context(), service, time.Second))
	worker := task.NewServer(rdb, log)
	require.NoError(t, worker.Start(task.NewHandler(bus.NewPublisher[events.ExpirationComplete](service), log)))
	t.Cleanup(worker.Shutdown)

	var mu sync.Mutex
	var expired []time.Time
	observer := testkit.Bus(t, n)
	require.NoError(t, bus.NewListener(observer, "test-observer", func(_ context.Context, e events.ExpirationComplete) error {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, "order-1", e.OrderID)
		expired = append(expired, time.Now())
		return nil
	}).Listen(t.Context()))
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(expired)
	}

	e := orderCreated("order-1", time.Now().Add(1500*time.Millisecond))
	orders := bus.NewPublisher[events.OrderCreated](testkit.Bus(t, n))
	require.NoError(t, orders.Publish(t.Context(), e))
	require.NoError(t, orders.Publish(t.Context(), e))

	inspector := asynq.NewInspectorFromRedisClient(rdb)
	var info *asynq.TaskInfo
	testkit.Eventually(t, func() bool {
		var err error
		info, err = inspector.GetTaskInfo(task.Queue, e.ID)
		return err == nil
	}, "the task to be scheduled")
	assert.Equal(t, task.TypeOrderExpiration, info.Type)
	assert.JSONEq(t, `{"orderId":"order-1","expiresAt":"`+e.ExpiresAt.String()+`"}`, string(info.Payload))

	testkit.Eventually(t, func() bool { return count() > 0 }, "the expiration")
	// A second task for the order would fall due at the same time and run
	// within the server's 50 ms poll; the rest is margin for the publish.
	// Only waiting shows that it does not come.
	assert.Never(t, func() bool { return count() > 1 }, 500*time.Millisecond, 10*time.Millisecond, "expired twice")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, expired, 1)
	assert.False(t, expired[0].Before(e.ExpiresAt.Time), "expired early")
}

func TestOrderCreated_FailsSoTheEventIsRedeliveredWhileRedisIsUnreachable(t *testing.T) {
	handle := listener.New(task.NewScheduler(redisClient(t, closedAddr(t))), testkit.Logger(t)).OrderCreated

	err := handle(t.Context(), orderCreated("order-1", time.Now().Add(time.Minute)))

	assert.Error(t, err)
}

func TestOrderCreated_AcksWithoutSchedulingWhenOrderIDOrExpiresAtIsMissing(t *testing.T) {
	rdb := redisClient(t, testkit.MiniRedis(t))
	handle := listener.New(task.NewScheduler(rdb), testkit.Logger(t)).OrderCreated
	tests := map[string]events.OrderCreated{
		"no order id":  orderCreated("", time.Now().Add(time.Minute)),
		"no expiresAt": {ID: "order-1", Status: "created"},
	}
	for name, e := range tests {
		t.Run(name, func(t *testing.T) {
			assert.NoError(t, handle(t.Context(), e))
		})
	}
	keys, err := rdb.Keys(t.Context(), "*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "nothing may be stored")
}

func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
