package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/requestid"
	"ticketing.dev/common/testkit"
)

// On JetStream a message keeps its identity on the bus: published again,
// as a relay does after a crash between the publish and the removal, it
// is delivered once; and the request that caused it reaches the handler.
func TestRelay_OnJetStreamAMessagePublishedTwiceIsDeliveredOnceWithItsRequestID(t *testing.T) {
	t.Parallel()
	n := testkit.BusServer(t, bus.JetStream)
	coll := testkit.DB(t).Collection("tickets")
	relay := startRelay(t, coll, testkit.Bus(t, n), &keylock.Locks{}, outbox.WithPollInterval(time.Hour))

	type delivery struct {
		event     events.TicketCreated
		requestID string
	}
	got := make(chan delivery, 4)
	require.NoError(t, bus.NewListener(testkit.Bus(t, n), "probe", func(ctx context.Context, e events.TicketCreated) error {
		got <- delivery{e, requestid.From(ctx)}
		return nil
	}).Listen(t.Context()))

	want := events.TicketCreated{ID: "t1", Title: "concert", Price: 1099, UserID: "u1"}
	msg, err := outbox.New(requestid.With(t.Context(), "req-7"), want)
	require.NoError(t, err)
	assert.Equal(t, "req-7", msg.RequestID)

	// The same message pending in two documents: the second publish is
	// what a restarted relay would send for a message it had published
	// but not yet removed.
	for _, id := range []bson.ObjectID{bson.NewObjectID(), bson.NewObjectID()} {
		_, err := coll.InsertOne(t.Context(), ticket{ID: id, Title: "concert", Outbox: []outbox.Message{msg}})
		require.NoError(t, err)
		relay.Notify()
		waitDrained(t, coll, id)
	}
	// A marker published after both: once it is in, so would a copy be.
	marker := events.TicketCreated{ID: "t2", Title: "marker", Price: 1, UserID: "u1"}
	require.NoError(t, bus.NewPublisher[events.TicketCreated](testkit.Bus(t, n)).Publish(t.Context(), marker))

	var all []delivery
	for len(all) == 0 || all[len(all)-1].event.ID != "t2" {
		select {
		case d := <-got:
			all = append(all, d)
		case <-time.After(5 * time.Second):
			t.Fatalf("marker not delivered; got %v", all)
		}
	}
	assert.Equal(t, []delivery{{want, "req-7"}, {marker, ""}}, all)
}
