package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func letter(seq uint64, data string) bus.DeadLetter {
	return bus.DeadLetter{
		Subject:    string(events.SubjectOrderCreated),
		Group:      "expiration-service",
		Data:       []byte(data),
		Err:        "malformed order id",
		Deliveries: 1,
		Sequence:   seq,
		Published:  time.Date(2026, 12, 2, 10, 0, 0, int(seq)*int(time.Millisecond), time.UTC),
		At:         time.Date(2026, 12, 2, 10, 1, 0, int(seq)*int(time.Millisecond), time.UTC),
	}
}

// eachRedis runs test on a real redis-server and on miniredis, the two
// Redis servers the service runs on (the local stack embeds miniredis when
// redis-server is missing).
func eachRedis(t *testing.T, test func(t *testing.T, rdb *redis.Client)) {
	t.Helper()
	for name, start := range map[string]func(testing.TB) string{
		"redis-server": testkit.RedisServer,
		"miniredis":    testkit.MiniRedis,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb := redis.NewClient(&redis.Options{Addr: start(t)})
			t.Cleanup(func() { _ = rdb.Close() })
			test(t, rdb)
		})
	}
}

func TestStore_PutListGetRoundTrip(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, rdb *redis.Client) {
		store := redisstore.New(rdb)
		second, first := letter(2, `{"id":"o2"}`), letter(1, "not json at all")
		require.NoError(t, store.Put(t.Context(), second))
		require.NoError(t, store.Put(t.Context(), first))

		got, err := store.List(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []deadletter.Letter{
			{ID: deadletter.ID(first), DeadLetter: first},
			{ID: deadletter.ID(second), DeadLetter: second},
		}, got, "every field kept, the payload byte for byte, oldest first")

		one, err := store.Get(t.Context(), got[1].ID)
		require.NoError(t, err)
		assert.Equal(t, got[1], one)
		_, err = store.Get(t.Context(), "nope")
		assert.ErrorIs(t, err, deadletter.ErrNotFound)
	})
}

func TestStore_PutOfTheSameEventTwiceKeepsOneCopy(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, rdb *redis.Client) {
		store := redisstore.New(rdb)
		d := letter(7, `{}`)
		require.NoError(t, store.Put(t.Context(), d))
		again := d
		again.Deliveries, again.At = 2, d.At.Add(time.Second) // its ack was lost; it came back
		require.NoError(t, store.Put(t.Context(), again))
		restarted := d
		restarted.Published = d.Published.Add(time.Hour) // a wiped channel numbers from 1 again
		require.NoError(t, store.Put(t.Context(), restarted))

		got, err := store.List(t.Context())
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, 1, got[0].Deliveries, "the first copy kept")
	})
}

func TestStore_DiscardDeletesOnce(t *testing.T) {
	t.Parallel()
	eachRedis(t, func(t *testing.T, rdb *redis.Client) {
		store := redisstore.New(rdb)
		kept, gone := letter(1, `{}`), letter(2, `{}`)
		require.NoError(t, store.Put(t.Context(), kept))
		require.NoError(t, store.Put(t.Context(), gone))

		require.NoError(t, store.Discard(t.Context(), deadletter.ID(gone)))
		assert.ErrorIs(t, store.Discard(t.Context(), deadletter.ID(gone)), deadletter.ErrNotFound)

		got, err := store.List(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []deadletter.Letter{{ID: deadletter.ID(kept), DeadLetter: kept}}, got)
	})
}

func TestStore_ReplayThatCannotPublishKeepsTheLetter(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: testkit.MiniRedis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	store := redisstore.New(rdb)
	d := letter(1, `{"id":"o1"}`)
	require.NoError(t, store.Put(t.Context(), d))
	n := testkit.NATS(t)
	cfg := testkit.BusConfig(n)
	cfg.LostAfter = 30 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := bus.Connect(ctx, cfg, testkit.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	n.Stop()
	testkit.Eventually(t, func() bool { return conn.Ping(t.Context()) != nil }, "disconnect noticed")

	require.Error(t, store.Replay(t.Context(), conn, deadletter.ID(d)))
	replayed, err := store.ReplayAll(t.Context(), conn)
	require.Error(t, err)
	assert.Zero(t, replayed)
	assert.ErrorIs(t, store.Replay(t.Context(), conn, "0123456789abcdef01234567"), deadletter.ErrNotFound)

	got, err := store.List(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 1, "a letter that was not published is kept")
}

// TestStore_DeadLettersOfAListenerReplayOldestFirst runs the whole path on
// a real redis-server: a handler that cannot apply events yet gives up on
// each after its deliveries, the events land in Redis, and once the cause
// is mended ReplayAll brings them to the handler again, oldest first.
func TestStore_DeadLettersOfAListenerReplayOldestFirst(t *testing.T) {
	t.Parallel()
	const maxDeliveries = 2
	rdb := redis.NewClient(&redis.Options{Addr: testkit.RedisServer(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	store := redisstore.New(rdb)
	n := testkit.NATS(t)
	cfg := testkit.BusConfig(n)
	cfg.DeadLetters, cfg.MaxDeliveries = store, maxDeliveries
	conn, err := bus.Connect(t.Context(), cfg, testkit.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	var (
		mended  atomic.Bool
		tries   atomic.Int32
		mu      sync.Mutex
		applied []string
	)
	require.NoError(t, bus.NewListener(conn, "expiration-service", func(_ context.Context, e events.OrderCreated) error {
		tries.Add(1)
		if !mended.Load() {
			return assert.AnError
		}
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, e.ID)
		return nil
	}).WithAckWait(time.Second).Listen(t.Context()))

	var want []string
	for i := range 2 {
		e := events.OrderCreated{ID: fmt.Sprintf("order-%d", i), Status: events.StatusCreated, ExpiresAt: events.NewTime(time.Now())}
		require.NoError(t, bus.NewPublisher[events.OrderCreated](conn).Publish(t.Context(), e))
		want = append(want, e.ID)
		// One after the other, so that the first is given up on first.
		testkit.Eventually(t, func() bool {
			letters, err := store.List(t.Context())
			require.NoError(t, err)
			return len(letters) == i+1
		}, "order:created %d dead-lettered", i)
	}
	letters, err := store.List(t.Context())
	require.NoError(t, err)
	for _, l := range letters {
		assert.Equal(t, string(events.SubjectOrderCreated), l.Subject)
		assert.Equal(t, "expiration-service", l.Group)
		assert.Equal(t, maxDeliveries, l.Deliveries)
		assert.Equal(t, assert.AnError.Error(), l.Err)
	}
	var first events.OrderCreated
	require.NoError(t, json.Unmarshal(letters[0].Data, &first))
	assert.Equal(t, want[0], first.ID)
	assert.EqualValues(t, 2*maxDeliveries, tries.Load())

	mended.Store(true)
	replayed, err := store.ReplayAll(t.Context(), conn)
	require.NoError(t, err)
	assert.Equal(t, 2, replayed)

	testkit.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(applied) == 2
	}, "the replays handled")
	mu.Lock()
	assert.Equal(t, want, applied)
	mu.Unlock()
	left, err := store.List(t.Context())
	require.NoError(t, err)
	assert.Empty(t, left, "a replayed letter is deleted")
}
