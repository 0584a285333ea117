package deadletter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func letter(seq uint64, data string) bus.DeadLetter {
	return bus.DeadLetter{
		Subject:    string(events.SubjectTicketUpdated),
		Group:      "orders-service",
		Data:       []byte(data),
		Err:        "version gap",
		Deliveries: 10,
		Sequence:   seq,
		Published:  time.Date(2026, 12, 2, 10, 0, 0, int(seq)*int(time.Millisecond), time.UTC),
		At:         time.Date(2026, 12, 2, 10, 1, 0, int(seq)*int(time.Millisecond), time.UTC),
	}
}

func TestStore_PutListGetRoundTrip(t *testing.T) {
	t.Parallel()
	store := deadletter.New(testkit.DB(t))
	second, first := letter(2, `{"id":"t2","version":3}`), letter(1, `{"id":"t1","version":2}`)
	require.NoError(t, store.Put(t.Context(), second))
	require.NoError(t, store.Put(t.Context(), first))

	got, err := store.List(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, []deadletter.Letter{
		{ID: deadletter.ID(first), DeadLetter: first},
		{ID: deadletter.ID(second), DeadLetter: second},
	}, got, "every field kept, oldest first")

	one, err := store.Get(t.Context(), got[1].ID)
	require.NoError(t, err)
	assert.Equal(t, got[1], one)
	_, err = store.Get(t.Context(), "nope")
	assert.ErrorIs(t, err, deadletter.ErrNotFound)
}

func TestStore_PutOfTheSameEventTwiceKeepsOneCopy(t *testing.T) {
	t.Parallel()
	store := deadletter.New(testkit.DB(t))
	d := letter(7, `{}`)
	require.NoError(t, store.Put(t.Context(), d))
	again := d
	again.Deliveries, again.At = 11, d.At.Add(time.Second) // its ack was lost; it came back
	require.NoError(t, store.Put(t.Context(), again))

	otherGroup := d
	otherGroup.Group = "payments-service"
	require.NoError(t, store.Put(t.Context(), otherGroup))
	restarted := d
	restarted.Published = d.Published.Add(time.Hour) // a wiped channel numbers from 1 again
	require.NoError(t, store.Put(t.Context(), restarted))

	got, err := store.List(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, 10, got[0].Deliveries, "the first copy kept")
}

func TestStore_ReplayUnknownIDIsNotFound(t *testing.T) {
	t.Parallel()
	store := deadletter.New(testkit.DB(t))
	conn := testkit.Bus(t, testkit.NATS(t))
	assert.ErrorIs(t, store.Replay(t.Context(), conn, "0123456789abcdef01234567"), deadletter.ErrNotFound)
}

func TestStore_ReplayThatCannotPublishKeepsTheLetter(t *testing.T) {
	t.Parallel()
	store := deadletter.New(testkit.DB(t))
	d := letter(1, `{"id":"t1"}`)
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

	got, err := store.List(t.Context())
	require.NoError(t, err)
	assert.Len(t, got, 1, "a letter that was not published is kept")
}

// TestStore_DeadLettersOfAListenerReplayToEveryGroup runs the whole path:
// a handler that cannot apply an event yet gives up on it after its
// deliveries, the event lands in MongoDB, and once the cause is mended a
// replay brings it to the handler again — and to every other group on the
// subject, which acknowledges it without effect.
func TestStore_DeadLettersOfAListenerReplayToEveryGroup(t *testing.T) {
	t.Parallel()
	const maxDeliveries = 2
	n := testkit.NATS(t)
	store := deadletter.New(testkit.DB(t))
	cfg := testkit.BusConfig(n)
	cfg.DeadLetters, cfg.MaxDeliveries = store, maxDeliveries
	conn, err := bus.Connect(t.Context(), cfg, testkit.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })

	var (
		mended  atomic.Bool
		tries   atomic.Int32
		mu      sync.Mutex
		applied []events.TicketUpdated
		audited []events.TicketUpdated
	)
	require.NoError(t, bus.NewListener(conn, "orders-service", func(_ context.Context, e events.TicketUpdated) error {
		tries.Add(1)
		if !mended.Load() {
			return assert.AnError
		}
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, e)
		return nil
	}).WithAckWait(time.Second).Listen(t.Context()))
	require.NoError(t, bus.NewListener(testkit.Bus(t, n), "audit-service", func(_ context.Context, e events.TicketUpdated) error {
		mu.Lock()
		defer mu.Unlock()
		audited = append(audited, e)
		return nil
	}).Listen(t.Context()))

	want := events.TicketUpdated{ID: "t1", Version: 1, Title: "concert", Price: 2500, UserID: "u1"}
	require.NoError(t, bus.NewPublisher[events.TicketUpdated](conn).Publish(t.Context(), want))

	var letters []deadletter.Letter
	testkit.Eventually(t, func() bool {
		letters, err = store.List(t.Context())
		require.NoError(t, err)
		return len(letters) == 1
	}, "the event dead-lettered")
	l := letters[0]
	assert.Equal(t, string(events.SubjectTicketUpdated), l.Subject)
	assert.Equal(t, "orders-service", l.Group)
	assert.Equal(t, maxDeliveries, l.Deliveries)
	assert.Equal(t, assert.AnError.Error(), l.Err)
	var stored events.TicketUpdated
	require.NoError(t, json.Unmarshal(l.Data, &stored))
	assert.Equal(t, want, stored)
	assert.EqualValues(t, maxDeliveries, tries.Load())

	mended.Store(true)
	require.NoError(t, store.Replay(t.Context(), conn, l.ID))

	testkit.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(applied) == 1 && len(audited) == 2
	}, "the replay handled by the group that gave up and seen by the other")
	mu.Lock()
	assert.Equal(t, want, applied[0])
	assert.Equal(t, []events.TicketUpdated{want, want}, audited)
	mu.Unlock()
	left, err := store.List(t.Context())
	require.NoError(t, err)
	assert.Empty(t, left, "a replayed letter is deleted")
}

func TestStore_ReplayAllReplaysOldestFirst(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	conn := testkit.Bus(t, n)
	store := deadletter.New(testkit.DB(t))
	for _, seq := range []uint64{3, 1, 2} {
		d := letter(seq, fmt.Sprintf(`{"id":"t1","version":%d,"title":"x","price":1,"userId":"u"}`, seq))
		require.NoError(t, store.Put(t.Context(), d))
	}
	got := make(chan int64, 3)
	require.NoError(t, bus.NewListener(testkit.Bus(t, n), "orders-service", func(_ context.Context, e events.TicketUpdated) error {
		got <- e.Version
		return nil
	}).Listen(t.Context()))

	replayed, err := store.ReplayAll(t.Context(), conn)
	require.NoError(t, err)
	assert.Equal(t, 3, replayed)

	var versions []int64
	for range 3 {
		select {
		case v := <-got:
			versions = append(versions, v)
		case <-time.After(10 * time.Second):
			t.Fatal("replayed events not delivered")
		}
	}
	assert.Equal(t, []int64{1, 2, 3}, versions)
	left, err := store.List(t.Context())
	require.NoError(t, err)
	assert.Empty(t, left)
}
