package task_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/expiration/internal/task"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// maxLate is the target: an order's lock is released at most this long
// after its expiresAt.
const maxLate = 250 * time.Millisecond

// duplicateWindow is how long a test watches for a second expiration of an
// order that must not come. A second run of a due task would start within
// the server's 50 ms poll, a retry after its 200 ms retry delay (up to a
// second later, as asynq keeps retry times in whole seconds, but the first
// publish failing is then a test failure of its own); the rest is margin for
// the publish. Only waiting shows that something does not happen.
const duplicateWindow = 500 * time.Millisecond

// tick is how often a test that watches for something looks.
const tick = 10 * time.Millisecond

// redisServers are the Redis servers every timing test runs against: the
// real one production uses and the embedded one the local stack falls back
// to.
var redisServers = []struct {
	name  string
	start func(testing.TB) string
}{
	{"redis-server", testkit.RedisServer},
	{"miniredis", testkit.MiniRedis},
}

func TestExpiration_PublishesNeverBeforeExpiresAtAndAtMost250msAfter(t *testing.T) {
	for _, rs := range redisServers {
		t.Run(rs.name, func(t *testing.T) {
			n := testkit.NATS(t)
			seen := observe(t, testkit.Bus(t, n))
			tasks := startWorker(t, rs.start(t), testkit.Bus(t, n))

			// Offsets from a whole second include the worst case, an
			// expiresAt just past a whole second: asynq sees the task due
			// only at that second, so all its polling delay shows.
			base := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
			offsets := []time.Duration{0, 10, 40, 90, 230, 480, 770, 990, 1000, 1030}
			expiresAt := make(map[string]time.Time, len(offsets))
			for i, off := range offsets {
				id := fmt.Sprintf("order-%d", i)
				expiresAt[id] = events.NewTime(base.Add(off * time.Millisecond)).Time
				scheduled, err := tasks.Schedule(t.Context(), id, expiresAt[id])
				require.NoError(t, err)
				require.True(t, scheduled)
			}

			testkit.Eventually(t, func() bool { return seen.total() >= len(offsets) }, "%d expirations", len(offsets))
			assert.Never(t, func() bool { return seen.total() > len(offsets) }, duplicateWindow, tick, "an order expired twice")

			var late []time.Duration
			for id, at := range expiresAt {
				arrivals := seen.of(id)
				require.Len(t, arrivals, 1, "order %s", id)
				d := arrivals[0].Sub(at)
				late = append(late, d)
				assert.GreaterOrEqual(t, d, time.Duration(0), "order %s expired early", id)
				assert.LessOrEqual(t, d, maxLate, "order %s expired late", id)
			}
			slices.Sort(late)
			t.Logf("%s: lateness of %d expirations: min %v, median %v, max %v; all: %v",
				rs.name, len(late), late[0], late[len(late)/2], late[len(late)-1], late)
		})
	}
}

func TestSchedule_RedeliveredOrderSchedulesOnceAndPublishesOnce(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	seen := observe(t, testkit.Bus(t, n))
	tasks := startWorker(t, testkit.RedisServer(t), testkit.Bus(t, n))
	at := events.NewTime(time.Now().Add(time.Second)).Time

	scheduled, err := tasks.Schedule(t.Context(), "order-1", at)
	require.NoError(t, err)
	assert.True(t, scheduled)
	// A redelivery, even one carrying another time, keeps the first task.
	scheduled, err = tasks.Schedule(t.Context(), "order-1", at.Add(-time.Hour))
	require.NoError(t, err)
	assert.False(t, scheduled)

	testkit.Eventually(t, func() bool { return seen.total() > 0 }, "the expiration")
	assert.False(t, seen.of("order-1")[0].Before(at), "expired early")

	// One that comes after the lock ran out does not expire it again.
	scheduled, err = tasks.Schedule(t.Context(), "order-1", at)
	require.NoError(t, err)
	assert.False(t, scheduled)
	assert.Never(t, func() bool { return len(seen.of("order-1")) > 1 }, duplicateWindow, tick, "expired again")
}

func TestSchedule_PastExpiresAtPublishesAtOnce(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	seen := observe(t, testkit.Bus(t, n))
	tasks := startWorker(t, testkit.MiniRedis(t), testkit.Bus(t, n))

	start := time.Now()
	scheduled, err := tasks.Schedule(t.Context(), "order-1", start.Add(-time.Minute))
	require.NoError(t, err)
	assert.True(t, scheduled)

	testkit.Eventually(t, func() bool { return seen.total() > 0 }, "the expiration")
	assert.Less(t, seen.of("order-1")[0].Sub(start), time.Second)
}

func TestExpiration_RetriesPublishingUntilNATSIsBack(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	seen := observe(t, testkit.Bus(t, n))
	tasks := startWorker(t, testkit.RedisServer(t), testkit.Bus(t, n))
	at := events.NewTime(time.Now().Add(1200 * time.Millisecond)).Time
	_, err := tasks.Schedule(t.Context(), "order-1", at)
	require.NoError(t, err)

	// The points in time are the task's due time, kept in Redis on the real
	// clock, so the test waits for them: NATS goes down shortly before it,
	// and stays down across it long enough for retries after 200, 400 and
	// 800 ms to fail.
	time.Sleep(time.Until(at.Add(-500 * time.Millisecond)))
	n.Stop()
	time.Sleep(time.Until(at.Add(1500 * time.Millisecond)))
	require.Equal(t, 0, seen.total(), "published while NATS was down")
	back := time.Now()
	require.NoError(t, n.Start())

	testkit.Eventually(t, func() bool { return seen.total() > 0 }, "the expiration after NATS came back")
	t.Logf("published %v after NATS came back", seen.of("order-1")[0].Sub(back))
	// A publish refused while disconnected never reaches the server, so the
	// retries add no duplicate.
	assert.Never(t, func() bool { return len(seen.of("order-1")) > 1 }, duplicateWindow, tick, "a retry published a duplicate")
}

// startWorker runs the asynq server on the Redis at addr, publishing
// through conn, until the test ends, and returns a Scheduler for it.
func startWorker(t *testing.T, addr string, conn *bus.Conn) *task.Scheduler {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	log := testkit.Logger(t)
	srv := task.NewServer(rdb, log)
	require.NoError(t, srv.Start(task.NewHandler(bus.NewPublisher[events.ExpirationComplete](conn), log)))
	t.Cleanup(srv.Shutdown)
	return task.NewScheduler(rdb)
}

// observer records when each expiration:complete arrives.
type observer struct {
	mu  sync.Mutex
	got map[string][]time.Time
	n   int
}

func observe(t *testing.T, conn *bus.Conn) *observer {
	t.Helper()
	o := &observer{got: make(map[string][]time.Time)}
	l := bus.NewListener(conn, "test-observer", func(_ context.Context, e events.ExpirationComplete) error {
		now := time.Now()
		o.mu.Lock()
		defer o.mu.Unlock()
		o.got[e.OrderID] = append(o.got[e.OrderID], now)
		o.n++
		return nil
	})
	require.NoError(t, l.Listen(t.Context()))
	return o
}

func (o *observer) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

func (o *observer) of(id string) []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got[id])
}

// A task run again after its publish succeeded (its ack to asynq lost, a
// rescue) publishes its order's expiration:complete again under the same
// id: on JetStream that is one event, on NATS Streaming two, which orders
// absorbs (the order is cancelled once).
func TestHandler_AnOrdersExpirationPublishedTwiceIsOneEventOnJetStream(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		seen := observe(t, testkit.Bus(t, n))
		h := task.NewHandler(bus.NewPublisher[events.ExpirationComplete](testkit.Bus(t, n)), testkit.Logger(t))
		data, err := json.Marshal(task.Payload{OrderID: "o1", ExpiresAt: events.Time{Time: time.Now().Add(-time.Second)}})
		require.NoError(t, err)
		for range 2 {
			require.NoError(t, h.ProcessTask(t.Context(), asynq.NewTask(task.TypeOrderExpiration, data)))
		}
		// A marker published after both: once it is in, so would a copy be.
		require.NoError(t, bus.NewPublisher[events.ExpirationComplete](testkit.Bus(t, n)).Publish(t.Context(), events.ExpirationComplete{OrderID: "marker"}))
		testkit.Eventually(t, func() bool { return len(seen.of("marker")) == 1 }, "the marker")

		want := 2
		if n.Transport() == bus.JetStream {
			want = 1
		}
		assert.Len(t, seen.of("o1"), want)
	})
}
