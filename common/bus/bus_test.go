package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// ackWait is the ack wait the tests give their listeners: short, so that a
// redelivery shows within a test.
const ackWait = time.Second

// pastAckWait is how long a test watches for a redelivery that must not
// come: the ack wait, and a margin for the server's redelivery timer and the
// delivery itself. Only waiting shows that something does not happen.
const pastAckWait = ackWait + 500*time.Millisecond

// tick is how often a test that watches for something looks.
const tick = 10 * time.Millisecond

func publishOrders(t *testing.T, conn *bus.Conn, ids ...string) {
	t.Helper()
	pub := bus.NewPublisher[events.OrderCancelled](conn)
	for _, id := range ids {
		require.NoError(t, pub.Publish(t.Context(), events.OrderCancelled{ID: id, Ticket: events.TicketRef{ID: "t"}}))
	}
}

func orderIDs(es []events.OrderCancelled) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

func connect(t *testing.T, cfg bus.Config) *bus.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := bus.Connect(ctx, cfg, testkit.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestPublisher_ListenerReceivesTypedEvent(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		conn := testkit.Bus(t, n)
		got := make(chan events.TicketCreated, 1)
		require.NoError(t, bus.NewListener(conn, "orders-service", func(_ context.Context, e events.TicketCreated) error {
			got <- e
			return nil
		}).Listen(t.Context()))

		want := events.TicketCreated{ID: "t1", Title: "concert", Price: 1099, UserID: "u1"}
		require.NoError(t, bus.NewPublisher[events.TicketCreated](conn).Publish(t.Context(), want))
		select {
		case e := <-got:
			assert.Equal(t, want, e)
		case <-time.After(5 * time.Second):
			t.Fatal("event not delivered")
		}
	})
}

func TestListener_HandlerErrorLeadsToRedelivery(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		conn := testkit.Bus(t, n)
		var (
			mu       sync.Mutex
			attempts []time.Time
		)
		handled := make(chan events.OrderCancelled, 1)
		require.NoError(t, bus.NewListener(conn, "tickets-service", func(_ context.Context, e events.OrderCancelled) error {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, time.Now())
			if len(attempts) == 1 {
				return assert.AnError
			}
			handled <- e
			return nil
		}).WithAckWait(ackWait).Listen(t.Context()))

		publishOrders(t, conn, "o1")
		select {
		case e := <-handled:
			assert.Equal(t, "o1", e.ID)
		case <-time.After(5 * time.Second):
			t.Fatal("failed event not redelivered")
		}
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, attempts, 2)
		assert.GreaterOrEqual(t, attempts[1].Sub(attempts[0]), 900*time.Millisecond, "redelivered before the ack wait")
	})
}

func TestListener_UndecodablePayloadIsAckedAndNotRedelivered(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		rec := &recorder{next: testkit.Logger(t).Handler(), state: &recorderState{}}
		conn, err := bus.Connect(t.Context(), testkit.BusConfig(n), slog.New(rec))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })

		var got testkit.Inbox[events.OrderCancelled]
		require.NoError(t, bus.NewListener(conn, "tickets-service", got.Handle).
			WithAckWait(ackWait).Listen(t.Context()))

		require.NoError(t, conn.Publish(t.Context(), string(events.SubjectOrderCancelled), []byte("not json")))
		publishOrders(t, conn, "o1", "o2")

		testkit.Eventually(t, func() bool { return got.Len() == 2 }, "good events after a bad one")
		// An unacked message would come back one ack wait after delivery.
		assert.Never(t, func() bool {
			return got.Len() > 2 || rec.state.count("dropping undecodable event") > 1
		}, pastAckWait, tick, "an event delivered again")
		assert.Equal(t, []string{"o1", "o2"}, orderIDs(got.Events()))
		assert.Equal(t, 1, rec.state.count("dropping undecodable event"), "undecodable event delivered again")
	})
}

func TestListener_RestartedSubscriberMissesNothing(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		pub := testkit.Bus(t, n)

		var before testkit.Inbox[events.OrderCancelled]
		first := connect(t, testkit.BusConfig(n))
		require.NoError(t, bus.NewListener(first, "payments-service", before.Handle).Listen(t.Context()))
		publishOrders(t, pub, "o1")
		testkit.Eventually(t, func() bool { return before.Len() == 1 }, "first event")
		require.NoError(t, first.Close())
		if n.Transport() == bus.JetStream {
			// A pull request the closed subscriber left on the server
			// takes an event published before the server has seen it go,
			// and that event comes back only an ack wait later, after the
			// marker: wait until the server has dropped such requests.
			waitNoPullRequests(t, n, bus.ConsumerName("payments-service", events.SubjectOrderCancelled))
		}

		publishOrders(t, pub, "o2", "o3")

		var after testkit.Inbox[events.OrderCancelled]
		second := connect(t, testkit.BusConfig(n))
		require.NoError(t, bus.NewListener(second, "payments-service", after.Handle).Listen(t.Context()))
		// A marker: a subscriber gets its events in order, so once the
		// marker is in, so is every copy of what came before.
		publishOrders(t, pub, "marker")
		testkit.Eventually(t, func() bool { return slices.Contains(orderIDs(after.Events()), "marker") }, "events published while away")
		assert.Equal(t, []string{"o2", "o3", "marker"}, orderIDs(after.Events()), "missed or re-received events")
	})
}

func TestListener_QueueGroupMembersHandleEachEventOnce(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		pub := testkit.Bus(t, n)
		var a, b testkit.Inbox[events.OrderCancelled]
		require.NoError(t, bus.NewListener(testkit.Bus(t, n), "tickets-service", a.Handle).Listen(t.Context()))
		require.NoError(t, bus.NewListener(testkit.Bus(t, n), "tickets-service", b.Handle).Listen(t.Context()))

		var want []string
		for i := range 50 {
			want = append(want, string(rune('A'+i/26))+string(rune('a'+i%26)))
		}
		publishOrders(t, pub, want...)

		testkit.Eventually(t, func() bool { return a.Len()+b.Len() >= 50 }, "all events handled")
		// A copy handed to both members would come as fast as the original,
		// not an ack wait later, so a short look suffices; a marker cannot
		// stand in for it, as the group hands a marker to one member only.
		assert.Never(t, func() bool { return a.Len()+b.Len() > 50 }, 200*time.Millisecond, tick, "an event handled twice")
		all := append(orderIDs(a.Events()), orderIDs(b.Events())...)
		assert.ElementsMatch(t, want, all, "union of the members is not every event exactly once")
		t.Logf("members handled %d and %d", a.Len(), b.Len())
	})
}

func TestConn_CloseWaitsForHandlerInFlight(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		conn := connect(t, testkit.BusConfig(n))
		started := make(chan struct{})
		release := make(chan struct{})
		var finished bool
		require.NoError(t, bus.NewListener(conn, "orders-service", func(context.Context, events.OrderCancelled) error {
			close(started)
			<-release
			finished = true // read after Close returns; -race checks the ordering
			return nil
		}).WithAckWait(ackWait).Listen(t.Context()))
		publishOrders(t, testkit.Bus(t, n), "o1")
		<-started

		closed := closeWhileHandling(t, conn, release)
		select {
		case err := <-closed:
			require.NoError(t, err)
			assert.True(t, finished)
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return after the handler finished")
		}

		// The handler's ack reached the server: the group's next member is
		// not handed the event again once the ack wait is over.
		again := nextMember(t, n)
		// One ack wait more than elsewhere: the new member joins only after
		// Close, and the server may start its redelivery timer for the
		// closed member's unacked events when the new member joins.
		assert.Never(t, func() bool { return again.Len() > 0 }, ackWait+pastAckWait, tick,
			"the event handled during Close was redelivered")
	})
}

// closeWhileHandling closes conn while one of its handlers waits for
// release, checks that Close waits for the handler, then closes release
// and returns the channel Close's error comes on.
func closeWhileHandling(t *testing.T, conn *bus.Conn, release chan<- struct{}) <-chan error {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- conn.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a handler was running")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	return closed
}

// nextMember joins orders-service on n as the group's next member, on a
// connection of its own, and records the events it is handed.
func nextMember(t *testing.T, n embedded.Bus) *testkit.Inbox[events.OrderCancelled] {
	t.Helper()
	again := &testkit.Inbox[events.OrderCancelled]{}
	require.NoError(t, bus.NewListener(connect(t, testkit.BusConfig(n)), "orders-service", again.Handle).
		WithAckWait(ackWait).Listen(t.Context()))
	return again
}

func TestConnect_RetriesUntilServerAppears(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		n.Stop()

		type result struct {
			conn *bus.Conn
			err  error
		}
		rec := &recorder{next: testkit.Logger(t).Handler(), state: &recorderState{}}
		done := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, err := bus.Connect(ctx, testkit.BusConfig(n), slog.New(rec))
			done <- result{c, err}
		}()
		testkit.Eventually(t, func() bool { return rec.state.count("bus not reachable, retrying") > 0 }, "a failed attempt")
		require.NoError(t, n.Start())

		r := <-done
		require.NoError(t, r.err)
		t.Cleanup(func() { _ = r.conn.Close() })
		require.NoError(t, r.conn.Ping(t.Context()))
		publishOrders(t, r.conn, "o1")
	})
}

func TestConnect_ReturnsContextErrorWhenServerNeverAppears(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		n.Stop()

		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		c, err := bus.Connect(ctx, testkit.BusConfig(n), testkit.Logger(t))
		assert.Nil(t, c)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 3*time.Second, "Connect outlived its context")
	})
}

func TestConn_LostClosesWhenServerNeverComesBack(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		cfg := testkit.BusConfig(n)
		cfg.LostAfter = 2 * time.Second // the default 10 s would dominate the suite
		conn := connect(t, cfg)
		require.NoError(t, conn.Ping(t.Context()))
		assert.NoError(t, conn.Err())

		start := time.Now()
		n.Stop()
		select {
		case <-conn.Lost():
			t.Logf("lost after %v", time.Since(start))
			require.ErrorIs(t, conn.Err(), bus.ErrConnectionLost)
			assert.Error(t, conn.Ping(t.Context()))
		case <-time.After(15 * time.Second):
			t.Fatal("Lost not closed")
		}
		start = time.Now()
		assert.NoError(t, conn.Close())
		t.Logf("closed in %v", time.Since(start))
	})
}

func TestConn_PublishFailsFastWhileDisconnected(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		cfg := testkit.BusConfig(n)
		cfg.LostAfter = 30 * time.Second
		conn := connect(t, cfg)
		n.Stop()
		testkit.Eventually(t, func() bool { return conn.Ping(t.Context()) != nil }, "disconnect noticed")
		start := time.Now()
		err := bus.NewPublisher[events.OrderCancelled](conn).Publish(t.Context(), events.OrderCancelled{ID: "o1"})
		require.Error(t, err)
		assert.Less(t, time.Since(start), time.Second, "no wait for a publish timeout, and nothing buffered to send twice")
	})
}

func TestConn_SurvivesServerRestart(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		cfg := testkit.BusConfig(n)
		cfg.LostAfter = 2 * time.Second
		conn := connect(t, cfg)
		var got testkit.Inbox[events.OrderCancelled]
		require.NoError(t, bus.NewListener(conn, "tickets-service", got.Handle).Listen(t.Context()))

		n.Stop()
		testkit.Eventually(t, func() bool { return conn.Ping(t.Context()) != nil }, "disconnect noticed")
		require.NoError(t, n.Start())

		// Publishing fails fast while the client reconnects; it recovers by itself.
		testkit.Eventually(t, func() bool { return conn.Ping(t.Context()) == nil }, "reconnected")
		publishOrders(t, conn, "o1")
		testkit.Eventually(t, func() bool { return got.Len() == 1 }, "event after restart")
		assert.NoError(t, conn.Err())
	})
}

func TestTestkit_DBIsFreshAndWritable(t *testing.T) {
	t.Parallel()
	db := testkit.DB(t)
	n, err := db.Collection("x").CountDocuments(t.Context(), map[string]any{})
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = db.Collection("x").InsertOne(t.Context(), map[string]any{"a": 1})
	require.NoError(t, err)
	n, err = db.Collection("x").CountDocuments(t.Context(), map[string]any{})
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}

// recorder is a slog.Handler that counts messages on their way to next, so
// that a test can see how often something happened.
type recorder struct {
	next  slog.Handler
	state *recorderState
}

type recorderState struct {
	mu   sync.Mutex
	msgs []string
}

func (s *recorderState) count(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func (r *recorder) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r *recorder) Handle(ctx context.Context, rec slog.Record) error {
	r.state.mu.Lock()
	r.state.msgs = append(r.state.msgs, rec.Message)
	r.state.mu.Unlock()
	return r.next.Handle(ctx, rec)
}

func (r *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{next: r.next.WithAttrs(as), state: r.state}
}

func (r *recorder) WithGroup(name string) slog.Handler {
	return &recorder{next: r.next.WithGroup(name), state: r.state}
}

func TestConfigFrom_CarriesTheServicesNATSVariables(t *testing.T) {
	c := bus.ConfigFrom(config.NATS{URL: "nats://nats-srv:4222", ClusterID: "ticketing", ClientID: "orders-abc",
		User: "orders", Password: "s3cret", MaxDeliveries: 7})
	assert.Equal(t, bus.Config{URL: "nats://nats-srv:4222", ClusterID: "ticketing", ClientID: "orders-abc",
		User: "orders", Password: "s3cret", MaxDeliveries: 7}, c)
}

func TestListener_SlowHandlerWorksOffABacklogWithoutRedeliveries(t *testing.T) {
	t.Parallel()
	// The backlog takes twice the ack wait to handle; each event is handed
	// over only shortly before its turn, so none outlives its ack wait.
	const backlog, each = 80, 25 * time.Millisecond
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		ids := make([]string, backlog)
		for i := range ids {
			ids[i] = fmt.Sprintf("o%d", i)
		}
		publishOrders(t, testkit.Bus(t, n), ids...)

		got := &testkit.Inbox[events.OrderCancelled]{}
		require.NoError(t, bus.NewListener(connect(t, testkit.BusConfig(n)), "orders-service",
			func(ctx context.Context, e events.OrderCancelled) error {
				time.Sleep(each) // the slow handler under test: its time is the point
				return got.Handle(ctx, e)
			}).WithAckWait(ackWait).Listen(t.Context()))

		testkit.Eventually(t, func() bool { return got.Len() >= backlog }, "%d events handled", backlog)
		assert.Never(t, func() bool { return got.Len() > backlog }, pastAckWait, tick, "an event redelivered")
		assert.Equal(t, ids, orderIDs(got.Events()), "events redelivered or out of order")
	})
}

func TestListener_WorkersKeepEachKeysOrderAndLetOtherKeysPass(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		pub := bus.NewPublisher[events.OrderCancelled](testkit.Bus(t, n))
		for v := range int64(20) {
			for _, ticket := range []string{"slow", "t1", "t2", "t3"} {
				e := events.OrderCancelled{ID: fmt.Sprintf("%s-%d", ticket, v), Version: v, Ticket: events.TicketRef{ID: ticket}}
				require.NoError(t, pub.Publish(t.Context(), e))
			}
		}

		// The first event of ticket "slow" is held until an event of another
		// ticket is handled: only workers let one pass it. (Of three other
		// tickets, at least one has a worker that is not slow's.)
		release := make(chan struct{})
		passed := false
		var mu sync.Mutex
		byTicket := map[string][]int64{}
		require.NoError(t, bus.NewListener(connect(t, testkit.BusConfig(n)), "tickets-service",
			func(_ context.Context, e events.OrderCancelled) error {
				if e.ID == "slow-0" {
					select {
					case <-release:
					case <-time.After(5 * time.Second):
						t.Error("no other ticket's event passed the held one")
					}
				}
				mu.Lock()
				defer mu.Unlock()
				byTicket[e.Ticket.ID] = append(byTicket[e.Ticket.ID], e.Version)
				if e.Ticket.ID != "slow" && !passed {
					passed = true
					close(release)
				}
				return nil
			}).WithWorkers(4, func(e events.OrderCancelled) string { return e.Ticket.ID }).Listen(t.Context()))

		// Each ticket's worker runs on its own: wait for all four, not for
		// the slowest alone (t2's last event was once still in flight).
		testkit.Eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, ticket := range []string{"slow", "t1", "t2", "t3"} {
				if len(byTicket[ticket]) < 20 {
					return false
				}
			}
			return true
		}, "every event handled")
		mu.Lock()
		defer mu.Unlock()
		versions := make([]int64, 20)
		for i := range versions {
			versions[i] = int64(i)
		}
		for _, ticket := range []string{"slow", "t1", "t2", "t3"} {
			assert.Equal(t, versions, byTicket[ticket], "ticket %s: events lost, repeated or out of order", ticket)
		}
	})
}

func TestConn_CloseWaitsForWorkersInFlightAndLeavesTheirQueuesToTheGroup(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		publishOrders(t, testkit.Bus(t, n), "o1", "o2", "o3")
		conn := connect(t, testkit.BusConfig(n))
		started := make(chan struct{})
		release := make(chan struct{})
		handled := &testkit.Inbox[events.OrderCancelled]{}
		require.NoError(t, bus.NewListener(conn, "orders-service", func(ctx context.Context, e events.OrderCancelled) error {
			if e.ID == "o1" {
				close(started)
				<-release
			}
			return handled.Handle(ctx, e)
		}).WithAckWait(ackWait).WithWorkers(2, func(events.OrderCancelled) string { return "one key" }).Listen(t.Context()))
		<-started

		require.NoError(t, <-closeWhileHandling(t, conn, release))
		assert.Equal(t, []string{"o1"}, orderIDs(handled.Events()), "handled after Close began")

		// o1 was acknowledged; o2 and o3, queued behind it, go to the group's
		// next member.
		again := nextMember(t, n)
		testkit.Eventually(t, func() bool { return again.Len() >= 2 }, "the queued events delivered again")
		assert.Never(t, func() bool { return again.Len() > 2 }, pastAckWait, tick, "an event delivered a third time")
		assert.Equal(t, []string{"o2", "o3"}, orderIDs(again.Events()))
	})
}
