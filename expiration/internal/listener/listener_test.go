package listener_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/events"
	"ticketing.dev/common/mongodb"
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
	require.NoError(t, listener.Subscribe(t.Context(), service, time.Second, listener.New(task.NewScheduler(rdb), log)))
	worker := task.NewServer(rdb, log)
	require.NoError(t, worker.Start(task.NewHandler(bus.NewPublisher[events.ExpirationComplete](service), log)))
	t.Cleanup(worker.Shutdown)

	orderID := newID()
	var mu sync.Mutex
	var expired []time.Time
	observer := testkit.Bus(t, n)
	require.NoError(t, bus.NewListener(observer, "test-observer", func(_ context.Context, e events.ExpirationComplete) error {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, orderID, e.OrderID)
		expired = append(expired, time.Now())
		return nil
	}).Listen(t.Context()))
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(expired)
	}

	e := orderCreated(orderID, time.Now().Add(1500*time.Millisecond))
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
	assert.JSONEq(t, `{"orderId":"`+orderID+`","expiresAt":"`+e.ExpiresAt.String()+`"}`, string(info.Payload))

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
	handle := listener.New(task.NewScheduler(redisClient(t, testkit.FreeAddr(t))), testkit.Logger(t)).OrderCreated

	err := handle(t.Context(), orderCreated(newID(), time.Now().Add(time.Minute)))

	assert.Error(t, err)
}

// An order:created that names no order, or names it by an id that is no
// ObjectID, or has no expiresAt can never apply: it goes to the dead
// letters at once and schedules nothing.
func TestOrderCreated_MissingOrMalformedOrderIDOrNoExpiresAtIsPermanent(t *testing.T) {
	rdb := redisClient(t, testkit.MiniRedis(t))
	handle := listener.New(task.NewScheduler(rdb), testkit.Logger(t)).OrderCreated
	tests := map[string]struct {
		e    events.OrderCreated
		want error
	}{
		"no order id":            {orderCreated("", time.Now().Add(time.Minute)), mongodb.ErrBadID},
		"order id not hex":       {orderCreated("order-1", time.Now().Add(time.Minute)), mongodb.ErrBadID},
		"order id one digit off": {orderCreated(newID()[1:], time.Now().Add(time.Minute)), mongodb.ErrBadID},
		"no expiresAt":           {events.OrderCreated{ID: newID(), Status: "created"}, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := handle(t.Context(), tt.e)
			assert.ErrorIs(t, err, bus.ErrPermanent)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
	keys, err := rdb.Keys(t.Context(), "*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "nothing may be stored")
}

// failing is the service's handlers with OrderCreated failing for one
// order, as a poison event makes it, counting the calls.
type failing struct {
	*listener.Handlers
	orderID string
	calls   atomic.Int32
}

func (f *failing) OrderCreated(ctx context.Context, e events.OrderCreated) error {
	if e.ID != f.orderID {
		return f.Handlers.OrderCreated(ctx, e)
	}
	f.calls.Add(1)
	return assert.AnError
}

// TestSubscribe_GivesUpOnAnEventIntoRedis runs the dead-letter rule as the
// service wires it, on real servers: an event failing on every delivery is
// a dead letter in the service's Redis after BUS_MAX_DELIVERIES
// deliveries, an undecodable one and a malformed one at once, and the
// events after them are scheduled as ever.
func TestSubscribe_GivesUpOnAnEventIntoRedis(t *testing.T) {
	const maxDeliveries = 3
	n := testkit.NATS(t)
	rdb := redisClient(t, testkit.RedisServer(t))
	letters := redisstore.New(rdb)
	cfg := testkit.BusConfig(n)
	cfg.DeadLetters, cfg.MaxDeliveries = letters, maxDeliveries
	conn, err := bus.Connect(t.Context(), cfg, testkit.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	poison := orderCreated(newID(), time.Now().Add(time.Hour))
	hs := &failing{Handlers: listener.New(task.NewScheduler(rdb), testkit.Logger(t)), orderID: poison.ID}
	require.NoError(t, listener.Subscribe(t.Context(), conn, time.Second, hs))

	orders := testkit.Bus(t, n)
	require.NoError(t, orders.Publish(t.Context(), string(events.SubjectOrderCreated), []byte(`{"id":`)))
	malformed := orderCreated("order-1", time.Now().Add(time.Hour))
	testkit.Publish(t, orders, malformed)
	testkit.Publish(t, orders, poison)
	good := orderCreated(newID(), time.Now().Add(time.Hour))
	testkit.Publish(t, orders, good)

	var stored []deadletter.Letter
	testkit.Eventually(t, func() bool {
		stored, err = letters.List(t.Context())
		require.NoError(t, err)
		return len(stored) == 3
	}, "three dead letters")
	byData := make(map[string]deadletter.Letter)
	for _, l := range stored {
		assert.Equal(t, string(events.SubjectOrderCreated), l.Subject)
		assert.Equal(t, listener.Group, l.Group)
		byData[string(l.Data)] = l
	}
	if l, ok := byData[`{"id":`]; assert.True(t, ok, "the undecodable payload, byte for byte") {
		assert.Equal(t, 1, l.Deliveries, "at once")
	}
	for _, l := range stored {
		var e events.OrderCreated
		if json.Unmarshal(l.Data, &e) != nil {
			continue
		}
		switch e.ID {
		case malformed.ID:
			assert.Equal(t, 1, l.Deliveries, "at once")
			assert.Contains(t, l.Err, `malformed order id "order-1"`)
		case poison.ID:
			assert.Equal(t, maxDeliveries, l.Deliveries)
			assert.Equal(t, assert.AnError.Error(), l.Err)
		default:
			t.Errorf("unexpected dead letter %s", l.Data)
		}
	}
	assert.EqualValues(t, maxDeliveries, hs.calls.Load(), "not delivered after it was given up on")

	inspector := asynq.NewInspectorFromRedisClient(rdb)
	testkit.Eventually(t, func() bool {
		_, err := inspector.GetTaskInfo(task.Queue, good.ID)
		return err == nil
	}, "the good order's task scheduled")
	_, err = inspector.GetTaskInfo(task.Queue, poison.ID)
	assert.ErrorIs(t, err, asynq.ErrTaskNotFound, "the poison event scheduled nothing")
}

func newID() string { return bson.NewObjectID().Hex() }

func redisClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}
