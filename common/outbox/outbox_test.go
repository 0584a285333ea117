package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

var _ outbox.Publisher = (*bus.Conn)(nil)

// ticket is an entity document as a store writes it.
type ticket struct {
	ID      any              `bson:"_id"`
	Title   string           `bson:"title"`
	Version int64            `bson:"version"`
	Outbox  []outbox.Message `bson:"outbox,omitempty"`
}

func message[E events.Event](t testing.TB, e E) outbox.Message {
	t.Helper()
	m, err := outbox.New(context.Background(), e)
	require.NoError(t, err)
	return m
}

func updated(id string, versions ...int64) []events.TicketUpdated {
	es := make([]events.TicketUpdated, len(versions))
	for i, v := range versions {
		es[i] = events.TicketUpdated{ID: id, Version: v, Title: "concert", Price: 1000 + events.Money(v), UserID: "u1"}
	}
	return es
}

func messages(t testing.TB, es []events.TicketUpdated) []outbox.Message {
	ms := make([]outbox.Message, len(es))
	for i, e := range es {
		ms[i] = message(t, e)
	}
	return ms
}

// startRelay runs a relay until the test ends, then checks that Run
// returned nil.
func startRelay(t *testing.T, coll *mongo.Collection, pub outbox.Publisher, locks *keylock.Locks, opts ...outbox.Option) *outbox.Relay {
	t.Helper()
	r := outbox.NewRelay(coll, pub, locks, testkit.Logger(t), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err, "Run")
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return r
}

// inbox records the events one queue group receives.
type inbox[E events.Event] struct{ testkit.Inbox[E] }

// listen subscribes a new client of n in a queue group of its own, which
// is delivered everything ever published on E's subject.
func listen[E events.Event](t *testing.T, n embedded.Bus) *inbox[E] {
	t.Helper()
	b := &inbox[E]{}
	require.NoError(t, bus.NewListener(testkit.Bus(t, n), "probe", b.Handle).Listen(t.Context()))
	return b
}

// duplicateWindow is how long waitFor watches for a copy of an event after
// the last one expected. A relay that publishes a message twice does it on
// its next pass, which follows at once or a backoff (at least 100 ms) later;
// a marker cannot stand in for the wait, as a copy may follow it. Only
// waiting shows that something does not happen.
const duplicateWindow = 300 * time.Millisecond

// waitFor waits until b holds at least n events, then watches for
// duplicateWindow that no more arrive; it returns everything received.
func (b *inbox[E]) waitFor(t *testing.T, n int) []E {
	t.Helper()
	testkit.Eventually(t, func() bool { return b.Len() >= n }, "%d events", n)
	assert.Never(t, func() bool { return b.Len() > n }, duplicateWindow, 10*time.Millisecond, "more than %d events", n)
	return b.Events()
}

// reporting is a Publisher that calls failed with the message id of every
// publish that fails, for a test to see the relay try while NATS is down.
type reporting struct {
	outbox.Publisher
	failed func(id string)
}

func (p reporting) PublishID(ctx context.Context, id, subject string, data []byte) error {
	err := p.Publisher.PublishID(ctx, id, subject, data)
	if err != nil {
		p.failed(id)
	}
	return err
}

func pendingOf(t *testing.T, coll *mongo.Collection, id any) []outbox.Message {
	t.Helper()
	var d ticket
	require.NoError(t, coll.FindOne(context.Background(), bson.M{"_id": id}).Decode(&d))
	return d.Outbox
}

func waitDrained(t *testing.T, coll *mongo.Collection, id any) {
	t.Helper()
	testkit.Eventually(t, func() bool { return len(pendingOf(t, coll, id)) == 0 }, "outbox of %v emptied", id)
}

// insert stores a ticket with es pending, at the version of its last
// event, as a store leaves it when its relay has not yet published them,
// and returns their messages.
func insert(t *testing.T, coll *mongo.Collection, id any, es ...events.TicketUpdated) []outbox.Message {
	t.Helper()
	ms := messages(t, es)
	_, err := coll.InsertOne(t.Context(), ticket{ID: id, Version: int64(len(es)), Outbox: ms})
	require.NoError(t, err)
	return ms
}

// relayTest is where most relay tests start: a bus server of their own,
// the tickets collection of a fresh database, a probe that records every
// ticket:updated, and the locks the stores and the relay share.
type relayTest struct {
	n     embedded.Bus
	coll  *mongo.Collection
	got   *inbox[events.TicketUpdated]
	locks *keylock.Locks
}

func newRelayTest(t *testing.T) *relayTest {
	t.Helper()
	n := testkit.NATS(t)
	return &relayTest{
		n:     n,
		coll:  testkit.DB(t).Collection("tickets"),
		got:   listen[events.TicketUpdated](t, n),
		locks: &keylock.Locks{},
	}
}

// conn is a new client of the test's bus server, as the relay's publisher.
func (rt *relayTest) conn(t *testing.T) *bus.Conn { return testkit.Bus(t, rt.n) }

// start runs a relay of the collection, publishing through pub, until
// the test ends.
func (rt *relayTest) start(t *testing.T, pub outbox.Publisher, opts ...outbox.Option) *outbox.Relay {
	t.Helper()
	return startRelay(t, rt.coll, pub, rt.locks, opts...)
}

func TestNew_EncodesEventForItsSubject(t *testing.T) {
	e := events.TicketCreated{ID: "t1", Version: 0, Title: "concert", Price: 1099, UserID: "u1"}
	m1 := message(t, e)
	m2 := message(t, e)

	assert.Equal(t, string(events.SubjectTicketCreated), m1.Subject)
	assert.JSONEq(t, `{"id":"t1","version":0,"title":"concert","price":10.99,"userId":"u1"}`, string(m1.Data))
	assert.NotEmpty(t, m1.ID)
	assert.NotEqual(t, m1.ID, m2.ID, "message ids repeat")
}

func TestRelay_PublishesEventStoredWithEntityAndRemovesIt(t *testing.T) {
	t.Parallel()
	for name, id := range map[string]any{
		"object id": bson.NewObjectID(),
		"string id": "ticket-1",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := testkit.NATS(t)
			coll := testkit.DB(t).Collection("tickets")
			locks := &keylock.Locks{}
			relay := startRelay(t, coll, testkit.Bus(t, n), locks, outbox.WithPollInterval(time.Hour))
			got := listen[events.TicketCreated](t, n)

			want := events.TicketCreated{ID: "t1", Title: "concert", Price: 1099, UserID: "u1"}
			_, err := coll.InsertOne(t.Context(), ticket{ID: id, Title: "concert", Outbox: []outbox.Message{message(t, want)}})
			require.NoError(t, err)
			relay.Notify()

			assert.Equal(t, []events.TicketCreated{want}, got.waitFor(t, 1))
			waitDrained(t, coll, id)
			var d ticket
			require.NoError(t, coll.FindOne(t.Context(), bson.M{"_id": id}).Decode(&d))
			assert.Equal(t, "concert", d.Title, "the entity itself changed")
		})
	}
}

func TestRelay_PublishesEventsOfOneDocumentInOrder(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	id := bson.NewObjectID()
	want := updated(id.Hex(), 1, 2, 3, 4, 5, 6)

	// The ways a store adds events: with the insert, one per update, and
	// several in one update.
	ms := insert(t, rt.coll, id, want[:2]...)
	ms = append(ms, messages(t, want[2:])...)
	_, err := rt.coll.UpdateOne(t.Context(), bson.M{"_id": id}, bson.M{"$push": bson.M{outbox.Field: ms[2]}})
	require.NoError(t, err)
	_, err = rt.coll.UpdateOne(t.Context(), bson.M{"_id": id}, bson.M{"$push": bson.M{outbox.Field: bson.M{"$each": ms[3:]}}})
	require.NoError(t, err)
	require.Len(t, pendingOf(t, rt.coll, id), 6)

	rt.start(t, rt.conn(t))

	assert.Equal(t, want, rt.got.waitFor(t, len(want)))
	waitDrained(t, rt.coll, id)
}

// failing publishes through next but fails the calls whose numbers it
// names, as a bus that drops out for a moment does.
type failing struct {
	next   outbox.Publisher
	mu     sync.Mutex
	calls  int
	failOn map[int]bool
}

func (p *failing) PublishID(ctx context.Context, id, subject string, data []byte) error {
	p.mu.Lock()
	p.calls++
	fail := p.failOn[p.calls]
	p.mu.Unlock()
	if fail {
		return errors.New("injected publish failure")
	}
	return p.next.PublishID(ctx, id, subject, data)
}

func TestRelay_RetriesFailedPublishWithoutLaterEventsOvertaking(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	id := bson.NewObjectID()
	want := updated(id.Hex(), 1, 2, 3, 4, 5)
	insert(t, rt.coll, id, want...)

	pub := &failing{next: rt.conn(t), failOn: map[int]bool{3: true, 4: true}}
	rt.start(t, pub)

	assert.Equal(t, want, rt.got.waitFor(t, len(want)))
	waitDrained(t, rt.coll, id)
	pub.mu.Lock()
	defer pub.mu.Unlock()
	assert.Equal(t, 7, pub.calls, "five events and two failed attempts")
}

func TestRelay_MalformedMessageHoldsUpOnlyItsOwnDocument(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	bad, good := bson.NewObjectID(), bson.NewObjectID()
	badEvents, goodEvents := updated(bad.Hex(), 1, 2), updated(good.Hex(), 1)
	_, err := rt.coll.InsertMany(t.Context(), []any{
		bson.M{"_id": bad, outbox.Field: bson.A{message(t, badEvents[0]), 42, message(t, badEvents[1])}},
		ticket{ID: good, Version: 1, Outbox: messages(t, goodEvents)},
	})
	require.NoError(t, err)

	rt.start(t, rt.conn(t))

	waitDrained(t, rt.coll, good)
	assert.ElementsMatch(t, slices.Concat(badEvents[:1], goodEvents), rt.got.waitFor(t, 2),
		"the event behind the malformed one overtook it, or the other document was held up")
	var left bson.M
	require.NoError(t, rt.coll.FindOne(t.Context(), bson.M{"_id": bad}).Decode(&left))
	assert.Len(t, left[outbox.Field], 2, "the malformed element and the one behind it stay pending")
}

func TestRelay_PublishesPendingEventsAtStart(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	var want []events.TicketUpdated
	var ids []bson.ObjectID
	for range 3 {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1, 2)
		insert(t, rt.coll, id, es...)
		want = append(want, es...)
		ids = append(ids, id)
	}

	// Neither a Notify nor a poll: only the drain at start can publish them.
	rt.start(t, rt.conn(t), outbox.WithPollInterval(time.Hour))

	assert.ElementsMatch(t, want, rt.got.waitFor(t, len(want)))
	for _, id := range ids {
		waitDrained(t, rt.coll, id)
	}
}

func TestRelay_PollPublishesEventsNobodyAnnounced(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	rt.startAfterLook(t, outbox.WithPollInterval(100*time.Millisecond))

	// As another replica of the service would write it: no Notify here.
	id := bson.NewObjectID()
	want := updated(id.Hex(), 1)
	insert(t, rt.coll, id, want...)

	assert.Equal(t, want, rt.got.waitFor(t, 2)[1:])
	waitDrained(t, rt.coll, id)
}

func TestRelay_PublishesEventWrittenWhileNATSDown(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	var failed atomic.Int32
	pub := reporting{rt.conn(t), func(string) { failed.Add(1) }}
	relay := rt.start(t, pub, outbox.WithPollInterval(time.Hour))

	rt.n.Stop()
	id := bson.NewObjectID()
	want := updated(id.Hex(), 1)
	insert(t, rt.coll, id, want...)
	relay.Notify()
	// The relay tries again only what it still holds as pending: a second
	// failed publish of the one event shows it did not take the first for
	// a success.
	testkit.Eventually(t, func() bool { return failed.Load() >= 2 }, "publish tried again")
	require.Len(t, pendingOf(t, rt.coll, id), 1, "event removed while NATS was down")
	require.NoError(t, rt.n.Start())

	assert.Equal(t, want, rt.got.waitFor(t, 1))
	waitDrained(t, rt.coll, id)
}

func TestRelay_ConcurrentLockedUpdatesLoseNeitherUpdatesNorEvents(t *testing.T) {
	t.Parallel()
	const writers = 20
	rt := newRelayTest(t)
	coll, locks := rt.coll, rt.locks
	relay := rt.start(t, rt.conn(t))

	id := bson.NewObjectID()
	_, err := coll.InsertOne(t.Context(), ticket{ID: id, Title: "concert"})
	require.NoError(t, err)

	// Each writer does what a store does: read, decide, write with the
	// version it read and the event of the new version, under the lock.
	update := func() error {
		unlock := locks.Lock(id.Hex())
		defer unlock()
		var cur ticket
		if err := coll.FindOne(t.Context(), bson.M{"_id": id}).Decode(&cur); err != nil {
			return err
		}
		next := cur.Version + 1
		msg := message(t, updated(id.Hex(), next)[0])
		res, err := coll.UpdateOne(t.Context(),
			bson.M{"_id": id, "version": cur.Version},
			bson.M{"$set": bson.M{"version": next}, "$push": bson.M{outbox.Field: msg}})
		if err != nil {
			return err
		}
		if res.ModifiedCount != 1 {
			return fmt.Errorf("update not applied: matched %d, modified %d", res.MatchedCount, res.ModifiedCount)
		}
		relay.Stored(id, msg)
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() { errs <- update() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	var versions []int64
	for _, e := range rt.got.waitFor(t, writers) {
		versions = append(versions, e.Version)
	}
	want := make([]int64, writers)
	for i := range want {
		want[i] = int64(i + 1)
	}
	assert.Equal(t, want, versions, "events lost, repeated or out of order")
	waitDrained(t, coll, id)
	var d ticket
	require.NoError(t, coll.FindOne(t.Context(), bson.M{"_id": id}).Decode(&d))
	assert.EqualValues(t, writers, d.Version, "updates lost")
}

func TestRelay_RunTwiceAtOnceFails(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	coll := testkit.DB(t).Collection("tickets")
	r := outbox.NewRelay(coll, testkit.Bus(t, n), &keylock.Locks{}, testkit.Logger(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	results := make(chan error, 2)
	for range 2 {
		go func() { results <- r.Run(ctx) }()
	}
	// The running one returns only once ctx is done, so the first result
	// is the refusal.
	assert.Error(t, <-results)
	cancel()
	assert.NoError(t, <-results)
}

func TestRelay_CreatesTheIndexOfItsQuery(t *testing.T) {
	t.Parallel()
	n := testkit.NATS(t)
	coll := testkit.DB(t).Collection("tickets")
	startRelay(t, coll, testkit.Bus(t, n), &keylock.Locks{})

	keys := func() map[string]bson.Raw {
		cur, err := coll.Indexes().List(t.Context())
		require.NoError(t, err)
		var specs []struct {
			Name string   `bson:"name"`
			Key  bson.Raw `bson:"key"`
		}
		require.NoError(t, cur.All(t.Context(), &specs))
		m := make(map[string]bson.Raw)
		for _, s := range specs {
			m[s.Name] = s.Key
		}
		return m
	}
	testkit.Eventually(t, func() bool { return keys()["outbox_pending"] != nil }, "index outbox_pending")
	var key bson.D
	require.NoError(t, bson.Unmarshal(keys()["outbox_pending"], &key))
	assert.Equal(t, bson.D{{Key: "outbox.id", Value: int32(1)}}, key)
}
