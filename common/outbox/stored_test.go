package outbox_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/outbox/outboxtest"
	"ticketing.dev/common/testkit"
)

// store writes a ticket with its events as a store does: under the
// document's lock, handing the messages to the relay before unlocking.
func (rt *relayTest) store(t *testing.T, relay *outbox.Relay, id bson.ObjectID, es ...events.TicketUpdated) {
	t.Helper()
	unlock := rt.locks.Lock(id.Hex())
	defer unlock()
	relay.Stored(id, insert(t, rt.coll, id, es...)...)
}

// startAfterLook stores a ticket, starts a relay publishing on the test's
// bus and waits for the ticket's event, which only the relay's look in the
// collection at start publishes: the relay is then past it.
func (rt *relayTest) startAfterLook(t *testing.T, opts ...outbox.Option) *outbox.Relay {
	t.Helper()
	id := bson.NewObjectID()
	insert(t, rt.coll, id, updated(id.Hex(), 1)...)
	relay := rt.start(t, rt.conn(t), opts...)
	testkit.Eventually(t, func() bool { return rt.got.Len() > 0 }, "the look at start")
	waitDrained(t, rt.coll, id)
	return relay
}

func TestRelay_PublishesStoredMessagesWithoutLookingForThem(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	// No poll and no Notify after the look at start: only the hand-over
	// can publish what the test stores next.
	relay := rt.startAfterLook(t, outbox.WithPollInterval(time.Hour))

	id := bson.NewObjectID()
	want := updated(id.Hex(), 1, 2, 3)
	rt.store(t, relay, id, want...)

	assert.Equal(t, want, rt.got.waitFor(t, 4)[1:])
	waitDrained(t, rt.coll, id)
}

func TestRelay_StoredMessageWaitsForOlderOnesOfItsDocument(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)

	// A previous process left version 1 pending; the first attempt to
	// publish it fails, while version 2 is stored and handed over.
	id := bson.NewObjectID()
	want := updated(id.Hex(), 1, 2)
	insert(t, rt.coll, id, want[:1]...)
	pub := &failing{next: rt.conn(t), failOn: map[int]bool{1: true}}
	relay := rt.start(t, pub, outbox.WithPollInterval(time.Hour))
	msg := message(t, want[1])
	unlock := rt.locks.Lock(id.Hex())
	_, err := rt.coll.UpdateOne(t.Context(), bson.M{"_id": id}, bson.M{"$set": bson.M{"version": 2}, "$push": bson.M{outbox.Field: msg}})
	require.NoError(t, err)
	relay.Stored(id, msg)
	unlock()

	assert.Equal(t, want, rt.got.waitFor(t, 2), "the handed-over event overtook the older one")
	waitDrained(t, rt.coll, id)
}

func TestRelay_StoredAndFoundMessagesArePublishedOnce(t *testing.T) {
	t.Parallel()
	const docs = 30
	rt := newRelayTest(t)
	relay := rt.startAfterLook(t, outbox.WithPollInterval(time.Hour))

	// Every message is both handed over and looked for, as when another
	// replica's leftovers are looked for while this one writes.
	var want []events.TicketUpdated
	for range docs {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1)
		rt.store(t, relay, id, es...)
		relay.Notify()
		want = append(want, es...)
	}

	assert.ElementsMatch(t, want, rt.got.waitFor(t, docs+1)[1:], "an event went missing or was published twice")
}

func TestRelay_ForgetsWhatItCannotKeepAndFindsItInTheCollection(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	relay := rt.startAfterLook(t, outbox.WithPollInterval(time.Hour), outbox.WithMaxQueued(3))

	rt.n.Stop()
	// Handed over but never stored: published only while the relay keeps
	// it in memory.
	ghost := message(t, updated(bson.NewObjectID().Hex(), 7)[0])
	relay.Stored(bson.NewObjectID(), ghost)
	var want []events.TicketUpdated
	for range 4 {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1, 2)
		rt.store(t, relay, id, es...)
		want = append(want, es...)
	}
	require.NoError(t, rt.n.Start())

	assert.ElementsMatch(t, want, rt.got.waitFor(t, len(want)+1)[1:],
		"the stored events are not all published once, or the forgotten one was published")
}

func TestRelay_RemovesWhatItPublishedFromManyDocumentsAndNothingElse(t *testing.T) {
	t.Parallel()
	const docs = 300 // more than one removal's batch
	rt := newRelayTest(t)
	coll := rt.coll
	relay := rt.startAfterLook(t, outbox.WithPollInterval(time.Hour))

	// A message nobody hands over stays where it is.
	other := bson.NewObjectID()
	left := insert(t, coll, other, updated(other.Hex(), 1)...)
	var want []events.TicketUpdated
	for range docs {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1)
		rt.store(t, relay, id, es...)
		want = append(want, es...)
	}

	assert.ElementsMatch(t, want, rt.got.waitFor(t, docs+1)[1:])
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

func TestHandOver_HandsOverASuccessAndNotifiesAFailure(t *testing.T) {
	h := new(outboxtest.Handoff)
	msg, err := outbox.New(t.Context(), events.TicketCreated{ID: "t1", Title: "concert", Price: 1000, UserID: "u1"})
	require.NoError(t, err)

	outbox.HandOver(h, nil, "t1", msg)
	outbox.HandOver(h, errors.New("timed out in the client"), "t2", msg)

	assert.Len(t, h.Messages("t1"), 1)
	assert.Empty(t, h.Messages("t2"), "a failed write hands nothing over")
	assert.Equal(t, 1, h.Notified())
}
