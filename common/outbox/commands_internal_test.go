package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/testkit"
)

// TestCommandShapes pins the relay's removal of a published event, which
// the floor of infra/bench copies (docs/bench/method.md): of an event a
// request caused, which carries the request's id, and of one an event
// caused, which on NATS Streaming carries none. The relay is not running:
// the test hands remove what Stored queued.
func TestCommandShapes(t *testing.T) {
	db, rec := testkit.RecordCommands(t)
	coll := db.Collection("entities")
	r := NewRelay(coll, nil, new(keylock.Locks), testkit.Logger(t))
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{
		{"remove the published event of a request", testkit.Request(t)},
		{"remove the published event of an event", t.Context()},
	} {
		id := bson.NewObjectID()
		msg, err := New(c.ctx, events.TicketCreated{ID: id.Hex(), Title: "concert", Price: 2000, UserID: "seller"})
		require.NoError(t, err)
		_, err = coll.InsertOne(t.Context(), bson.D{{Key: "_id", Value: id}, {Key: Field, Value: []Message{msg}}})
		require.NoError(t, err)
		r.Stored(id, msg)
		rec.Run(t, c.name, func() error {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			batch := r.queue
			r.queue = nil
			return r.remove(ctx, batch)
		})
	}
	rec.Golden(t, "testdata/commands.golden")
}
