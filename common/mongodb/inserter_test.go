package mongodb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/testkit"
)

// heldInserts is a collection whose first insert command waits, once sent
// to the driver, until release is called, and which records the number of
// documents of every insert command.
type heldInserts struct {
	coll    *mongo.Collection
	arrived chan struct{} // closed when the first insert command starts
	release func()

	mu    sync.Mutex
	sizes []int
}

func newHeldInserts(t *testing.T) *heldInserts {
	h := &heldInserts{arrived: make(chan struct{})}
	gate := make(chan struct{})
	h.release = sync.OnceFunc(func() { close(gate) })
	t.Cleanup(h.release)
	var first sync.Once
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName != "insert" {
			return
		}
		docs, err := e.Command.Lookup("documents").Array().Values()
		require.NoError(t, err)
		h.mu.Lock()
		h.sizes = append(h.sizes, len(docs))
		h.mu.Unlock()
		// The driver calls Started on the goroutine that sends the
		// command: blocking here holds the command back.
		first.Do(func() {
			close(h.arrived)
			<-gate
		})
	}}
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(testkit.MongoURI(t)).SetMonitor(monitor))
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Disconnect(ctx) })
	h.coll = client.Database(testkit.DB(t).Name()).Collection("docs")
	return h
}

// holdFirst inserts id through in, as the first insert command, and
// returns once that command is held; the channel yields its outcome once
// release is called.
func (h *heldInserts) holdFirst(ctx context.Context, in *mongodb.Inserter, id bson.ObjectID) <-chan error {
	first := make(chan error, 1)
	go func() { first <- in.InsertOne(ctx, doc(id)) }()
	<-h.arrived
	return first
}

func (h *heldInserts) commandSizes() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

func (h *heldInserts) count(t *testing.T) int64 {
	n, err := h.coll.CountDocuments(context.Background(), bson.D{})
	require.NoError(t, err)
	return n
}

func doc(id bson.ObjectID) bson.D { return bson.D{{Key: "_id", Value: id}} }

// insertAll calls InsertOne for every id, each from its own goroutine,
// once the previous one is queued, and returns their outcomes in order.
func insertAll(ctx context.Context, t *testing.T, in *mongodb.Inserter, ids ...bson.ObjectID) <-chan []error {
	out := make(chan []error, 1)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	queued := in.Queued()
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = in.InsertOne(ctx, doc(id))
		}()
		testkit.Eventually(t, func() bool { return in.Queued() == queued+i+1 }, "an insert never queued")
	}
	go func() {
		wg.Wait()
		out <- errs
	}()
	return out
}

func TestInserter_AloneGoesAtOnceAndTheWaitingGoTogether(t *testing.T) {
	ctx := context.Background()
	h := newHeldInserts(t)
	in := mongodb.NewInserter(h.coll)
	first := h.holdFirst(ctx, in, bson.NewObjectID())

	waiting := insertAll(ctx, t, in, bson.NewObjectID(), bson.NewObjectID(), bson.NewObjectID())
	h.release()

	require.NoError(t, <-first)
	for _, err := range <-waiting {
		require.NoError(t, err)
	}
	assert.Equal(t, []int{1, 3}, h.commandSizes(), "the first alone, then the three that waited, in one command")
	assert.EqualValues(t, 4, h.count(t))
}

func TestInserter_ADuplicateFailsOnlyItsOwnCaller(t *testing.T) {
	ctx := context.Background()
	h := newHeldInserts(t)
	in := mongodb.NewInserter(h.coll)
	taken := bson.NewObjectID()
	first := h.holdFirst(ctx, in, taken)

	waiting := insertAll(ctx, t, in, bson.NewObjectID(), taken, bson.NewObjectID())
	h.release()

	require.NoError(t, <-first)
	errs := <-waiting
	assert.NoError(t, errs[0])
	assert.True(t, mongo.IsDuplicateKeyError(errs[1]), "%v", errs[1])
	assert.NoError(t, errs[2])
	assert.EqualValues(t, 3, h.count(t))
}

func TestInserter_ACallerThatGivesUpWhileQueuedIsNotWritten(t *testing.T) {
	ctx := context.Background()
	h := newHeldInserts(t)
	in := mongodb.NewInserter(h.coll)
	first := h.holdFirst(ctx, in, bson.NewObjectID())

	gone, cancel := context.WithCancel(ctx)
	abandoned := insertAll(gone, t, in, bson.NewObjectID())
	kept := insertAll(ctx, t, in, bson.NewObjectID())
	cancel()
	assert.ErrorIs(t, (<-abandoned)[0], context.Canceled)
	h.release()

	require.NoError(t, <-first)
	require.NoError(t, (<-kept)[0])
	assert.Equal(t, []int{1, 1}, h.commandSizes())
	assert.EqualValues(t, 2, h.count(t))
}

func TestInserter_ManyConcurrentCallersAllLand(t *testing.T) {
	ctx := context.Background()
	coll := testkit.DB(t).Collection("docs")
	in := mongodb.NewInserter(coll)
	const callers = 300
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- in.InsertOne(ctx, doc(bson.NewObjectID()))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	n, err := coll.CountDocuments(ctx, bson.D{})
	require.NoError(t, err)
	assert.EqualValues(t, callers, n)
	require.Eventually(t, func() bool { return in.Queued() == 0 }, time.Second, 10*time.Millisecond)
}

// A caller whose document is in a command when it gives up learns the
// command's outcome: told nothing, it could not know that its document,
// and any event in it, was stored.
func TestInserter_ACallerThatGivesUpOnceSentWaitsForTheOutcome(t *testing.T) {
	h := newHeldInserts(t)
	in := mongodb.NewInserter(h.coll)
	ctx, cancel := context.WithCancel(context.Background())
	first := h.holdFirst(ctx, in, bson.NewObjectID())

	cancel()
	select {
	case err := <-first:
		t.Fatalf("returned %v while its command was still running", err)
	case <-time.After(100 * time.Millisecond):
	}
	h.release()

	require.NoError(t, <-first, "its document was written")
	assert.EqualValues(t, 1, h.count(t))
}
