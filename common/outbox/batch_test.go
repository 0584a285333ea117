package outbox_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/events"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/testkit"
)

// commands counts the commands a client sends, by name, as the server
// sees them.
type commands struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *commands) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

// countCommands has the test reach its collection through a client of its
// own, whose commands are counted.
func (rt *relayTest) countCommands(t *testing.T) *commands {
	t.Helper()
	c := &commands{n: make(map[string]int)}
	client, err := mongo.Connect(options.Client().ApplyURI(testkit.MongoURI(t)).SetMonitor(&event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			c.mu.Lock()
			c.n[e.CommandName]++
			c.mu.Unlock()
		},
	}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	rt.coll = client.Database(rt.coll.Database().Name()).Collection(rt.coll.Name())
	return c
}

// pendingDocs stores n documents, each with one pending event, as a
// crashed process leaves them, and returns their events.
func pendingDocs(t *testing.T, coll *mongo.Collection, n int) []events.TicketUpdated {
	t.Helper()
	docs := make([]any, n)
	want := make([]events.TicketUpdated, n)
	for i := range docs {
		id := bson.NewObjectID()
		es := updated(id.Hex(), 1)
		docs[i], want[i] = ticket{ID: id, Version: 1, Outbox: messages(t, es)}, es[0]
	}
	_, err := coll.InsertMany(t.Context(), docs)
	require.NoError(t, err)
	return want
}

// gated publishes through next, but its first publish waits until open
// is closed.
type gated struct {
	next    outbox.Publisher
	open    chan struct{}
	started chan struct{}
	once    sync.Once
	mu      sync.Mutex
	order   []string // the payloads in the order they were published
}

func (p *gated) PublishID(ctx context.Context, id, subject string, data []byte) error {
	first := false
	p.once.Do(func() { first = true })
	if first {
		close(p.started)
		<-p.open
	}
	if err := p.next.PublishID(ctx, id, subject, data); err != nil {
		return err
	}
	p.mu.Lock()
	p.order = append(p.order, string(data))
	p.mu.Unlock()
	return nil
}

func TestRelay_NewEventsGoOutBesideAnOldBacklog(t *testing.T) {
	t.Parallel()
	const leftovers = 1000 // several of the look's batches
	rt := newRelayTest(t)
	pendingDocs(t, rt.coll, leftovers)
	pub := &gated{next: rt.conn(t), open: make(chan struct{}), started: make(chan struct{})}
	relay := rt.start(t, pub, outbox.WithPollInterval(time.Hour))

	// The look is publishing the backlog when a new ticket is stored.
	<-pub.started
	id := bson.NewObjectID()
	fresh := updated(id.Hex(), 1)
	rt.store(t, relay, id, fresh...)
	close(pub.open)

	rt.got.waitFor(t, leftovers+1)
	waitDrained(t, rt.coll, id)
	pub.mu.Lock()
	defer pub.mu.Unlock()
	at := -1
	for i, data := range pub.order {
		if data == string(messages(t, fresh)[0].Data) {
			at = i
		}
	}
	require.NotEqual(t, -1, at, "the new event was not published")
	assert.Less(t, at, leftovers/2, "the new event waited behind the backlog")
}

func TestRelay_RemovesABacklogByFewBulkWrites(t *testing.T) {
	t.Parallel()
	const leftovers = 300 // more than one removal batch
	rt := newRelayTest(t)
	cmds := rt.countCommands(t)
	coll := rt.coll
	want := pendingDocs(t, coll, leftovers)
	rt.start(t, rt.conn(t), outbox.WithPollInterval(time.Hour))

	assert.ElementsMatch(t, want, rt.got.waitFor(t, leftovers))
	// Removing 300 messages takes FerretDB seconds under the race
	// detector on a busy machine; this checks how, not how fast.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		left, err := coll.CountDocuments(t.Context(), bson.M{"outbox.0": bson.M{"$exists": true}})
		require.NoError(c, err)
		assert.Zero(c, left, "documents still holding published messages")
	}, 45*time.Second, 100*time.Millisecond)
	// One update per document would be 300 commands. A batch removes up
	// to 256 documents' messages, and the pause between removals lets
	// published messages gather: 3 to 15 were seen, as the publishing
	// took from under one to three seconds.
	assert.LessOrEqual(t, cmds.count("update"), leftovers/10, "update commands for %d documents", leftovers)
	assert.Equal(t, 1, cmds.count("find"), "one look at start, no poll")
}

func TestRelay_PollBacksOffWhileItFindsNothing(t *testing.T) {
	t.Parallel()
	const poll = 50 * time.Millisecond
	rt := newRelayTest(t)
	cmds := rt.countCommands(t)
	rt.start(t, rt.conn(t), outbox.WithPollInterval(poll), outbox.WithoutLookShare())

	// Without backoff, 2 s of polls every 50 ms would be 40 looks; with
	// it, they come 50, 100, 200, 400 ms apart, then every 600 ms (no
	// longer for a slow look here: see WithoutLookShare). The looks are
	// counted over a fixed window of real time: the relay reads a real
	// database, so a fake clock cannot drive it.
	assert.Never(t, func() bool { return cmds.count("find") > 10 }, 2*time.Second, 10*time.Millisecond, "more than 10 looks in 2 s")

	// Another process's event is still found, within the longest interval.
	want := pendingDocs(t, rt.coll, 1)
	start := time.Now()
	assert.Equal(t, want, rt.got.waitFor(t, 1))
	assert.Less(t, time.Since(start), 5*time.Second)
}

// A write that failed in the client may be applied by the server later,
// even after the look its Notify asked for: the poll starts over, so
// that such an event waits a poll interval, not a backed-off one.
func TestRelay_NotifyStartsThePollOver(t *testing.T) {
	t.Parallel()
	const poll = 200 * time.Millisecond
	rt := newRelayTest(t)
	cmds := rt.countCommands(t)
	relay := rt.start(t, rt.conn(t), outbox.WithPollInterval(poll))

	// Backed off: looks at start, then 200, 400, 800 and 1,600 ms apart;
	// the next comes 2.4 s or more later.
	testkit.Eventually(t, func() bool { return cmds.count("find") >= 5 }, "the poll backed off")

	looks := cmds.count("find")
	relay.Notify()
	testkit.Eventually(t, func() bool { return cmds.count("find") > looks }, "a look at once")
	want := pendingDocs(t, rt.coll, 1) // applied after that look
	start := time.Now()
	assert.Equal(t, want, rt.got.waitFor(t, 1))
	assert.Less(t, time.Since(start), 1500*time.Millisecond, "found by the poll started over, within ~%v", poll)
}

func TestRelay_StatsCountWhatWaitsToBePublished(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	relay := rt.startAfterLook(t, outbox.WithPollInterval(time.Hour))
	assert.Equal(t, outbox.Stats{}, relay.Stats(), "nothing waits")

	rt.n.Stop()
	before := time.Now().Add(-time.Millisecond)
	id := bson.NewObjectID()
	rt.store(t, relay, id, updated(id.Hex(), 1, 2, 3)...)
	var published atomic.Bool
	go func() {
		rt.got.waitFor(t, 4)
		published.Store(true)
	}()
	s := relay.Stats()
	assert.Equal(t, 3, s.Pending)
	assert.WithinRange(t, s.Oldest, before, time.Now())

	require.NoError(t, rt.n.Start())
	testkit.Eventually(t, published.Load, "the events published once NATS is back")
	testkit.Eventually(t, func() bool { return relay.Stats() == outbox.Stats{} }, "nothing waits again")
}

// pausing publishes through next until paused; then each publish waits
// until resume is closed, and the first to wait closes waiting.
type pausing struct {
	next    outbox.Publisher
	paused  atomic.Bool
	waiting chan struct{}
	resume  chan struct{}
	once    sync.Once
}

func (p *pausing) PublishID(ctx context.Context, id, subject string, data []byte) error {
	if p.paused.Load() {
		p.once.Do(func() { close(p.waiting) })
		<-p.resume
	}
	return p.next.PublishID(ctx, id, subject, data)
}

// TestRelay_StatsLeaveOutPublishedEventsAwaitingRemoval: a look that
// finds a document whose event is published, its removal not yet done,
// does not count that event as pending while it works off the batches
// before it (on FerretDB over PostgreSQL, where removals lag under load,
// the gauge read thousands for a moment).
func TestRelay_StatsLeaveOutPublishedEventsAwaitingRemoval(t *testing.T) {
	t.Parallel()
	rt := newRelayTest(t)
	pub := &pausing{next: rt.conn(t), waiting: make(chan struct{}), resume: make(chan struct{})}
	first := bson.NewObjectID()
	insert(t, rt.coll, first, updated(first.Hex(), 1)...)
	relay := rt.start(t, pub, outbox.WithPollInterval(time.Hour))
	rt.got.waitFor(t, 1) // the look at start is over
	waitDrained(t, rt.coll, first)

	// A batch of a look's documents pending, unknown to the relay; after
	// them, a document whose event the relay published and cannot remove
	// while the test holds its lock.
	const backlog = 256 // publishBatch
	pendingDocs(t, rt.coll, backlog)
	published := bson.NewObjectID()
	unlock := rt.locks.Lock(published.Hex())
	relay.Stored(published, insert(t, rt.coll, published, updated(published.Hex(), 1)...)...)
	rt.got.waitFor(t, 2)

	pub.paused.Store(true)
	relay.Notify()
	<-pub.waiting // the look is publishing its first batch
	assert.Equal(t, backlog, relay.Stats().Pending, "the published event is not pending")

	close(pub.resume)
	unlock()
	rt.got.waitFor(t, backlog+2)
	waitDrained(t, rt.coll, published)
	testkit.Eventually(t, func() bool { return relay.Stats() == outbox.Stats{} }, "nothing waits")
}
