package outbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
)

// store writes a ticket with its events as a store does: under the
// document's lock, handing the messages to the relay before unlocking.
func store(t *testing.T, coll *mongo.Collection, locks *keylock.Locks, relay *outbox.Relay, id bson.ObjectID, es ...events.TicketUpdated) {
	t.Helper()
	ms := messages(t, es)
	unlock := locks.Lock(id.Hex())
	defer unlock()
	_, err := coll.InsertOne(t.Context(), ticket{ID: id, Version: int64(len(es)), Outbox: ms})
	require.NoError(t, err)
	relay.Stored(id, ms...)
}

// startRelayAfterLook stores a ticket, starts a relay and waits for the
// ticket's event, which only the relay's look in the collection at start
// publishes: the relay is then past it.
func startRelayAfterLook(t *testing.T, coll *mongo.Collection, locks *keylock.Locks, pub outbox.Publisher, got *inbox[events.TicketUpdated], opts ...outbox.Option) *outbox.Relay {
	t.Helper()
	id := bson.NewObjectID()
	_, err := coll.InsertOne(t.Context(), ticket{ID: id, Version: 1, Outbox: messages(t, updated(id.Hex(), 1))})
	require.NoError(t, err)
	relay := startRelay(t, coll, pub, locks, opts...)
	testkit.Eventually(t, func() bool { return got.len() > 0 }, "the look at start")
	waitDrained(t, coll, id)
	return relay
}

func TestRelay_PublishesStoredMessagesWithoutLookingForThem(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	coll := testkit.DB(t).Collection("tickets")
	got := listen[events.TicketUpdated](t, n)
	locks := &keylock.Locks{}
	// No poll and no Notify after the look at start: only the hand-over
	// can publish what the test stores next.
	relay := startRelayAfterLook(t, coll, locks, testkit.Bus(t, n), got, outbox.WithPollInterval(time.Hour))

	id := bson.NewObjectID()
	want := updated(id.Hex(), 1, 2, 3)
	store(t, coll, locks, relay, id, want...)

	assert.Equal(t, want, got.waitFor(t, 4)[1:])
	waitDrained(t, coll, id)
}

func TestRelay_StoredMessageWaitsForOlderOnesOfItsDocument(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	coll := testkit.DB(t).Collection("tickets")
	got := listen[events.TicketUpdated](t, n)
	locks := &keylock.Locks{}

	// A previous process left version 1 pending; the first attempt to
	// publish it fails, while version 2 is stored and handed over.
	id := bson.NewObjectID()
	want := updated(id.Hex(), 1, 2)
	_, err := coll.InsertOne(t.Context(), ticket{ID: id, Version: 1, Outbox: messages(t, want[:1])})
	require.NoError(t, err)
	pub := &failing{next: testkit.Bus(t, n), failOn: map[int]bool{1: true}}
	relay := startRelay(t, coll, pub, locks, outbox.WithPollInterval(time.Hour))
	msg := message(t, want[1])
	unlock := locks.Lock(id.Hex())
	_, err = coll.UpdateOne(t.Context(), bson.M{"_id": id}, bson.M{"$set": bson.M{"version": 2}, "$push": bson.M{outbox.Field: msg}})
	require.NoError(t, err)
	relay.Stored(id, msg)
	unlock()

	assert.Equal(t, want, got.waitFor(t, 2), "the handed-over event overtook the older one")
	waitDrained(t, coll, id)
}

func TestRelay_StoredAndFoundMessagesArePublishedOnce(t *testing.T) {
	t.Parallel()
	const docs = 30
	n := testkit.NATS(t)
	coll := testkit.DB(t).Collection("tickets")
	got := listen[events.TicketUpdated](t, n)
	locks := &keylock.Locks{}
	relay := startRelayAfterLook(t, coll, locks, testkit.Bus(t, n), got, outbox.WithPollInterval(time.Hour))

	// Every message is both handed over and looked for, as when another
	// replica's leftovers are looked for while this one writes.
	var want []events.TicketUpdated
	for range docs {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1)
		store(t, coll, locks, relay, id, es...)
		relay.Notify()
		want = append(want, es...)
	}

	assert.ElementsMatch(t, want, got.waitFor(t, docs+1)[1:], "an event went missing or was published twice")
}

func TestRelay_ForgetsWhatItCannotKeepAndFindsItInTheCollection(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	coll := testkit.DB(t).Collection("tickets")
	got := listen[events.TicketUpdated](t, n)
	locks := &keylock.Locks{}
	relay := startRelayAfterLook(t, coll, locks, testkit.Bus(t, n), got,
		outbox.WithPollInterval(time.Hour), outbox.WithMaxQueued(3))

	n.Stop()
	// Handed over but never stored: published only while the relay keeps
	// it in memory.
	ghost := message(t, updated(bson.NewObjectID().Hex(), 7)[0])
	relay.Stored(bson.NewObjectID(), ghost)
	var want []events.TicketUpdated
	for range 4 {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1, 2)
		store(t, coll, locks, relay, id, es...)
		want = append(want, es...)
	}
	require.NoError(t, n.Start())

	assert.ElementsMatch(t, want, got.waitFor(t, len(want)+1)[1:],
		"the stored events are not all published once, or the forgotten one was published")
}

func TestRelay_RemovesWhatItPublishedFromManyDocumentsAndNothingElse(t *testing.T) {
	t.Parallel()
	const docs = 300 // more than one removal's batch
	n := testkit.NATS(t)
	coll := testkit.DB(t).Collection("tickets")
	got := listen[events.TicketUpdated](t, n)
	locks := &keylock.Locks{}
	relay := startRelayAfterLook(t, coll, locks, testkit.Bus(t, n), got, outbox.WithPollInterval(time.Hour))

	// A message nobody hands over stays where it is.
	other := bson.NewObjectID()
	left := messages(t, updated(other.Hex(), 1))
	_, err := coll.InsertOne(t.Context(), ticket{ID: other, Version: 1, Outbox: left})
	require.NoError(t, err)
	var want []events.TicketUpdated
	for range docs {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1)
		store(t, coll, locks, relay, id, es...)
		want = append(want, es...)
	}

	assert.ElementsMatch(t, want, got.waitFor(t, docs+1)[1:])
	// Removing 300 messages takes FerretDB a few seconds under the race
	// detector, more when other packages' tests run beside; this checks
	// what is removed, not how fast.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		pending, err := coll.CountDocuments(t.Context(), bson.M{"outbox.0": bson.M{"$exists": true}})
		require.NoError(c, err)
		assert.EqualValues(c, 1, pending, "documents holding messages: only the one with a held-back message")
	}, 45*time.Second, 50*time.Millisecond)
	assert.Equal(t, left, pendingOf(t, coll, other))
}
