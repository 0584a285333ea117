package bus_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/requestid"
	"ticketing.dev/common/testkit"
)

// An event published twice under one id, as a relay does when it crashes
// between the publish and the removal, is delivered once on JetStream,
// which de-duplicates by Nats-Msg-Id; NATS Streaming has no such thing
// and delivers both, which the consumers' version rule absorbs.
func TestConn_PublishIDIsDeliveredOnceOnJetStream(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		conn := testkit.Bus(t, n)
		var got testkit.Inbox[events.OrderCancelled]
		require.NoError(t, bus.NewListener(conn, "tickets-service", got.Handle).Listen(t.Context()))

		data := []byte(`{"id":"o1","version":0,"ticket":{"id":"t1"}}`)
		subject := string(events.SubjectOrderCancelled)
		require.NoError(t, conn.PublishID(t.Context(), "msg-1", subject, data))
		require.NoError(t, conn.PublishID(t.Context(), "msg-1", subject, data))
		// A marker: the listener handles its events one at a time, in order,
		// so once the marker is in, so is every copy of msg-1 the server kept.
		publishOrders(t, conn, "o2")

		want := 3
		if n.Transport() == bus.JetStream {
			want = 2
		}
		testkit.Eventually(t, func() bool { return slices.Contains(orderIDs(got.Events()), "o2") }, "events delivered")
		assert.Len(t, got.Events(), want)
	})
}

// On JetStream the request id of the publisher's context reaches the
// handler's; NATS Streaming has no headers to carry it.
func TestListener_HandlerContextCarriesThePublishersRequestID(t *testing.T) {
	t.Parallel()
	testkit.EachTransport(t, func(t *testing.T, n embedded.Bus) {
		conn := testkit.Bus(t, n)
		seen := make(chan [2]string, 2) // ticket id, request id
		require.NoError(t, bus.NewListener(conn, "orders-service", func(ctx context.Context, e events.TicketCreated) error {
			seen <- [2]string{e.ID, requestid.From(ctx)}
			return nil
		}).WithWorkers(bus.Workers, func(e events.TicketCreated) string { return e.ID }).Listen(t.Context()))

		pub := bus.NewPublisher[events.TicketCreated](conn)
		require.NoError(t, pub.Publish(requestid.With(t.Context(), "req-42"), events.TicketCreated{ID: "t1"}))
		require.NoError(t, pub.Publish(t.Context(), events.TicketCreated{ID: "t2"}))

		want := map[string]string{"t1": "req-42", "t2": ""}
		if n.Transport() == bus.STAN {
			want["t1"] = ""
		}
		got := map[string]string{}
		for range want {
			select {
			case s := <-seen:
				got[s[0]] = s[1]
			case <-time.After(5 * time.Second):
				t.Fatal("event not delivered")
			}
		}
		assert.Equal(t, want, got)
	})
}

// Every consumer of the JetStream stream is a durable one named after its
// queue group and subject, keeping its place across connections.
func TestConsumerName_NamesTheGroupAndSubject(t *testing.T) {
	assert.Equal(t, "orders-service_ticket-created", bus.ConsumerName("orders-service", events.SubjectTicketCreated))
}

// Every service makes sure of the stream as it connects. The stream is
// updated only when it differs from the one described: an update while
// another service creates its consumer races inside the server's store.
// (Nor is it created again: that counts its size twice against the
// server's storage limit, which the TestNATSConfig tests of infra/k8s
// run under.)
func TestConnect_UpdatesTheStreamOnlyWhenItDiffers(t *testing.T) {
	t.Parallel()
	n := testkit.BusServer(t, bus.JetStream)
	nc, js := jetStreamClient(t, n)
	updates, err := nc.SubscribeSync("$JS.API.STREAM.UPDATE." + bus.Stream)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())

	// A stream left by an older release, smaller than this one's.
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: bus.Stream, Subjects: []string{string(events.SubjectTicketCreated)}, MaxBytes: 1 << 20,
	})
	require.NoError(t, err)

	testkit.Bus(t, n)
	testkit.Bus(t, n)
	testkit.Bus(t, n)

	info, err := js.Stream(t.Context(), bus.Stream)
	require.NoError(t, err)
	assert.Equal(t, int64(bus.StreamMaxBytes), info.CachedInfo().Config.MaxBytes, "the stream is brought up to date")
	msgs, _, err := updates.Pending()
	require.NoError(t, err)
	assert.Equal(t, 1, msgs, "stream updates")
}

// jetStreamClient connects a plain NATS client to n, closed when the test
// ends, to look at the server as the services cannot.
func jetStreamClient(t *testing.T, n embedded.Bus) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// waitNoPullRequests waits until the JetStream consumer named consumer
// holds no pull request; the server drops those of a closed client when
// asked for the consumer's info.
func waitNoPullRequests(t *testing.T, n embedded.Bus, consumer string) {
	t.Helper()
	_, js := jetStreamClient(t, n)
	testkit.Eventually(t, func() bool {
		c, err := js.Consumer(t.Context(), bus.Stream, consumer)
		if err != nil {
			return false
		}
		info, err := c.Info(t.Context())
		return err == nil && info.NumWaiting == 0
	}, "the closed subscriber's pull requests dropped")
}
