// Package deadlettertest is the conformance suite of deadletter.Keeper:
// the behaviour every store of dead letters shares (package deadletter's
// Store on MongoDB, package deadletter/redisstore's on Redis), run by the
// tests of each store on each server it runs on.
package deadlettertest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

// Run runs every test of the suite, each in a parallel subtest of t named
// after the behaviour it checks, on a Keeper open returns for that
// subtest. open must return an empty Keeper of the subtest's own (a fresh
// database, a fresh Redis), released when the subtest ends. Some tests
// start bus servers (testkit.NATS), so the calling package runs
// testkit.Main from its TestMain.
func Run(t *testing.T, open func(t *testing.T) deadletter.Keeper) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, k deadletter.Keeper)
	}{
		{"PutListGetRoundTrip", putListGetRoundTrip},
		{"PutOfTheSameEventTwiceKeepsOneCopy", putOfTheSameEventTwiceKeepsOneCopy},
		{"DiscardDeletesOnce", discardDeletesOnce},
		{"ReplayUnknownIDIsNotFound", replayUnknownIDIsNotFound},
		{"ReplayThatCannotPublishKeepsTheLetter", replayThatCannotPublishKeepsTheLetter},
		{"ReplayAllReplaysOldestFirst", replayAllReplaysOldestFirst},
		{"ReplayAllStopsAtTheFirstFailure", replayAllStopsAtTheFirstFailure},
		{"ReplayAllSkipsALetterGoneMeanwhile", replayAllSkipsALetterGoneMeanwhile},
		{"DeadLettersOfAListenerReplayToEveryGroup", deadLettersOfAListenerReplayToEveryGroup},
		{"DeadLettersOfAListenerReplayAllOldestFirst", deadLettersOfAListenerReplayAllOldestFirst},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

// letter is a dead letter of ticket:updated with sequence number seq,
// given up on seq milliseconds after 10:01, so that a lower seq is older.
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

// put stores a letter of ticket:updated for each sequence number, in the
// order given, its payload a ticket of that version.
func put(t *testing.T, k deadletter.Keeper, seqs ...uint64) {
	t.Helper()
	for _, seq := range seqs {
		d := letter(seq, fmt.Sprintf(`{"id":"t1","version":%d,"title":"x","price":1,"userId":"u"}`, seq))
		require.NoError(t, k.Put(t.Context(), d))
	}
}

// ids returns the ids of the letters k keeps, as List orders them.
func ids(t *testing.T, k deadletter.Keeper) []string {
	t.Helper()
	letters, err := k.List(t.Context())
	require.NoError(t, err)
	ids := []string{}
	for _, l := range letters {
		ids = append(ids, l.ID)
	}
	return ids
}

// recorder is a deadletter.Publisher of ticket:updated: it records the
// version of each event it is handed, and then returns what then returns,
// told how many events it has been handed so far.
type recorder struct {
	t         *testing.T
	then      func(handed int) error
	published []string
}

func (r *recorder) Publish(_ context.Context, _ string, data []byte) error {
	var e events.TicketUpdated
	require.NoError(r.t, json.Unmarshal(data, &e))
	r.published = append(r.published, fmt.Sprint(e.Version))
	return r.then(len(r.published))
}

func putListGetRoundTrip(t *testing.T, k deadletter.Keeper) {
	second, first := letter(2, `{"id":"t2","version":3}`), letter(1, "not json at all \xff\x00")
	require.NoError(t, k.Put(t.Context(), second))
	require.NoError(t, k.Put(t.Context(), first))

	got, err := k.List(t.Context())
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, []deadletter.Letter{
		{ID: deadletter.ID(first), DeadLetter: first},
		{ID: deadletter.ID(second), DeadLetter: second},
	}, got, "every field kept, the payload byte for byte, oldest first")

	one, err := k.Get(t.Context(), got[1].ID)
	require.NoError(t, err)
	assert.Equal(t, got[1], one)
	_, err = k.Get(t.Context(), "nope")
	assert.ErrorIs(t, err, deadletter.ErrNotFound)
}

func putOfTheSameEventTwiceKeepsOneCopy(t *testing.T, k deadletter.Keeper) {
	d := letter(7, `{}`)
	require.NoError(t, k.Put(t.Context(), d))
	again := d
	again.Deliveries, again.At = 11, d.At.Add(time.Second) // its ack was lost; it came back
	require.NoError(t, k.Put(t.Context(), again))

	otherGroup := d
	otherGroup.Group = "payments-service"
	require.NoError(t, k.Put(t.Context(), otherGroup))
	restarted := d
	restarted.Published = d.Published.Add(time.Hour) // a wiped channel numbers from 1 again
	require.NoError(t, k.Put(t.Context(), restarted))

	assert.ElementsMatch(t, []string{deadletter.ID(d), deadletter.ID(otherGroup), deadletter.ID(restarted)}, ids(t, k),
		"one copy of the event; another group's and a wiped channel's kept apart")
	got, err := k.Get(t.Context(), deadletter.ID(d))
	require.NoError(t, err)
	assert.Equal(t, deadletter.Letter{ID: deadletter.ID(d), DeadLetter: d}, got, "the first copy kept")
}

func discardDeletesOnce(t *testing.T, k deadletter.Keeper) {
	kept, gone := letter(1, `{}`), letter(2, `{}`)
	require.NoError(t, k.Put(t.Context(), kept))
	require.NoError(t, k.Put(t.Context(), gone))

	require.NoError(t, k.Discard(t.Context(), deadletter.ID(gone)))
	assert.ErrorIs(t, k.Discard(t.Context(), deadletter.ID(gone)), deadletter.ErrNotFound)

	got, err := k.List(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []deadletter.Letter{{ID: deadletter.ID(kept), DeadLetter: kept}}, got)
}

func replayUnknownIDIsNotFound(t *testing.T, k deadletter.Keeper) {
	put(t, k, 1)
	conn := testkit.Bus(t, testkit.NATS(t))
	assert.ErrorIs(t, k.Replay(t.Context(), conn, "0123456789abcdef01234567"), deadletter.ErrNotFound)
	assert.Len(t, ids(t, k), 1, "the other letter untouched")
}

func replayThatCannotPublishKeepsTheLetter(t *testing.T, k deadletter.Keeper) {
	d := letter(1, `{"id":"t1"}`)
	require.NoError(t, k.Put(t.Context(), d))
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

	require.Error(t, k.Replay(t.Context(), conn, deadletter.ID(d)))
	replayed, err := deadletter.ReplayAll(t.Context(), k, conn)
	require.Error(t, err)
	assert.Zero(t, replayed)

	assert.Equal(t, []string{deadletter.ID(d)}, ids(t, k), "a letter that was not published is kept")
}

func replayAllReplaysOldestFirst(t *testing.T, k deadletter.Keeper) {
	n := testkit.NATS(t)
	conn := testkit.Bus(t, n)
	put(t, k, 3, 1, 2)
	got := make(chan int64, 3)
	require.NoError(t, bus.NewListener(testkit.Bus(t, n), "orders-service", func(_ context.Context, e events.TicketUpdated) error {
		got <- e.Version
		return nil
	}).Listen(t.Context()))

	replayed, err := deadletter.ReplayAll(t.Context(), k, conn)
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
	assert.Empty(t, ids(t, k))
}

func replayAllStopsAtTheFirstFailure(t *testing.T, k deadletter.Keeper) {
	put(t, k, 1, 2, 3)
	pub := &recorder{t: t, then: func(handed int) error {
		if handed == 2 {
			return assert.AnError
		}
		return nil
	}}

	replayed, err := deadletter.ReplayAll(t.Context(), k, pub)
	require.ErrorIs(t, err, assert.AnError)
	assert.Equal(t, 1, replayed)
	assert.Equal(t, []string{"1", "2"}, pub.published, "nothing tried after the failure")
	assert.Equal(t, []string{deadletter.ID(letter(2, "")), deadletter.ID(letter(3, ""))}, ids(t, k),
		"the letter that failed and those after it kept")
}

func replayAllSkipsALetterGoneMeanwhile(t *testing.T, k deadletter.Keeper) {
	put(t, k, 1, 2, 3)
	pub := &recorder{t: t, then: func(handed int) error {
		if handed == 1 { // another operator discards the second meanwhile
			require.NoError(t, k.Discard(t.Context(), deadletter.ID(letter(2, ""))))
		}
		return nil
	}}

	replayed, err := deadletter.ReplayAll(t.Context(), k, pub)
	require.NoError(t, err)
	assert.Equal(t, 2, replayed)
	assert.Equal(t, []string{"1", "3"}, pub.published, "the discarded letter not published")
	assert.Empty(t, ids(t, k))
}

// deadLettersOfAListenerReplayToEveryGroup runs the whole path: a handler
// that cannot apply an event yet gives up on it after its deliveries, the
// event lands in the Keeper, and once the cause is mended a replay brings
// it to the handler again — and to every other group on the subject,
// which acknowledges it without effect.
func deadLettersOfAListenerReplayToEveryGroup(t *testing.T, k deadletter.Keeper) {
	const maxDeliveries = 2
	n, conn := connectWith(t, k, maxDeliveries)

	orders := listenUntilMended(t, conn)
	var (
		mu      sync.Mutex
		audited []events.TicketUpdated
	)
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
		var err error
		letters, err = k.List(t.Context())
		require.NoError(t, err)
		return len(letters) == 1
	}, "the event dead-lettered")
	l := letters[0]
	assertGivenUp(t, l, maxDeliveries)
	var stored events.TicketUpdated
	require.NoError(t, json.Unmarshal(l.Data, &stored))
	assert.Equal(t, want, stored)
	assert.EqualValues(t, maxDeliveries, orders.tries.Load())

	orders.mended.Store(true)
	require.NoError(t, k.Replay(t.Context(), conn, l.ID))

	testkit.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(orders.appliedSoFar()) == 1 && len(audited) == 2
	}, "the replay handled by the group that gave up and seen by the other")
	assert.Equal(t, want, orders.appliedSoFar()[0])
	mu.Lock()
	assert.Equal(t, []events.TicketUpdated{want, want}, audited)
	mu.Unlock()
	assert.Empty(t, ids(t, k), "a replayed letter is deleted")
}

// deadLettersOfAListenerReplayAllOldestFirst runs the whole path for two
// events: a handler that cannot apply them yet gives up on each after its
// deliveries, the events land in the Keeper, and once the cause is mended
// ReplayAll brings them to the handler again, oldest first.
func deadLettersOfAListenerReplayAllOldestFirst(t *testing.T, k deadletter.Keeper) {
	const maxDeliveries = 2
	_, conn := connectWith(t, k, maxDeliveries)

	orders := listenUntilMended(t, conn)

	var want []events.TicketUpdated
	for i := range 2 {
		e := events.TicketUpdated{ID: fmt.Sprintf("t%d", i), Version: 1, Title: "concert", Price: 2500, UserID: "u1"}
		require.NoError(t, bus.NewPublisher[events.TicketUpdated](conn).Publish(t.Context(), e))
		want = append(want, e)
		// One after the other, so that the first is given up on first.
		testkit.Eventually(t, func() bool { return len(ids(t, k)) == i+1 }, "ticket:updated %d dead-lettered", i)
	}
	letters, err := k.List(t.Context())
	require.NoError(t, err)
	for _, l := range letters {
		assertGivenUp(t, l, maxDeliveries)
	}
	var first events.TicketUpdated
	require.NoError(t, json.Unmarshal(letters[0].Data, &first))
	assert.Equal(t, want[0], first)
	assert.EqualValues(t, 2*maxDeliveries, orders.tries.Load())

	orders.mended.Store(true)
	replayed, err := deadletter.ReplayAll(t.Context(), k, conn)
	require.NoError(t, err)
	assert.Equal(t, 2, replayed)

	testkit.Eventually(t, func() bool { return len(orders.appliedSoFar()) == 2 }, "the replays handled")
	assert.Equal(t, want, orders.appliedSoFar())
	assert.Empty(t, ids(t, k), "a replayed letter is deleted")
}

// untilMended is a handler of ticket:updated that fails every delivery
// until it is mended, and then applies the events it is handed.
type untilMended struct {
	mended  atomic.Bool
	tries   atomic.Int32 // deliveries, failed or not
	mu      sync.Mutex
	applied []events.TicketUpdated
}

// listenUntilMended listens on conn as orders-service with a handler that
// fails until it is mended, each delivery after an ack wait of a second.
func listenUntilMended(t *testing.T, conn *bus.Conn) *untilMended {
	t.Helper()
	h := new(untilMended)
	require.NoError(t, bus.NewListener(conn, "orders-service", h.handle).WithAckWait(time.Second).Listen(t.Context()))
	return h
}

func (h *untilMended) handle(_ context.Context, e events.TicketUpdated) error {
	h.tries.Add(1)
	if !h.mended.Load() {
		return assert.AnError
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applied = append(h.applied, e)
	return nil
}

// appliedSoFar returns the events the handler has applied, in order.
func (h *untilMended) appliedSoFar() []events.TicketUpdated {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.applied)
}

// assertGivenUp checks that l is a ticket:updated that orders-service gave
// up on after maxDeliveries, its handler failing with assert.AnError.
func assertGivenUp(t *testing.T, l deadletter.Letter, maxDeliveries int) {
	t.Helper()
	assert.Equal(t, string(events.SubjectTicketUpdated), l.Subject)
	assert.Equal(t, "orders-service", l.Group)
	assert.Equal(t, maxDeliveries, l.Deliveries)
	assert.Equal(t, assert.AnError.Error(), l.Err)
}

// connectWith starts a bus server and connects to it with k as the sink of
// events given up on after maxDeliveries.
func connectWith(t *testing.T, k deadletter.Keeper, maxDeliveries int) (embedded.Bus, *bus.Conn) {
	t.Helper()
	n := testkit.NATS(t)
	cfg := testkit.BusConfig(n)
	cfg.DeadLetters, cfg.MaxDeliveries = k, maxDeliveries
	conn, err := bus.Connect(t.Context(), cfg, testkit.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return n, conn
}
