package mongodb

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const (
	// maxInsertBatch bounds the documents of one insert command.
	maxInsertBatch = 256
	// insertTimeout bounds one insert command. Its callers may have given
	// up sooner; their documents are written or not as one.
	insertTimeout = 10 * time.Second
)

// Inserter inserts the documents of concurrent callers into one collection
// together: one insert command at a time, holding every document that
// arrived while the previous one ran (group commit). Alone, a caller's
// document goes at once, as by InsertOne; under load, one command and one
// transaction of the server serve many callers.
//
// That is what both servers do best. On MongoDB it cuts the commands per
// request. On FerretDB's SQLite backend, which `make run` embeds, every
// insert is a transaction on the database file's one write lock, and
// writers that find it taken poll for it with sleeps of 1 ms to 100 ms
// (SQLite's busy handler): sixteen concurrent inserts made the slowest
// requests wait for hundreds of milliseconds behind writers that came
// later. One command at a time queues them in order instead.
type Inserter struct {
	coll *mongo.Collection

	mu      sync.Mutex
	queue   []*insert
	running bool // a goroutine is writing the queue
}

type insert struct {
	ctx   context.Context
	doc   any
	state atomic.Int32 // queued, then sent (by the writer) or abandoned (by the caller)
	err   error
	done  chan struct{}
}

const (
	queued int32 = iota
	sent
	abandoned
)

// NewInserter returns an Inserter into coll.
func NewInserter(coll *mongo.Collection) *Inserter {
	return &Inserter{coll: coll}
}

// InsertOne inserts doc, with the documents of the callers waiting at the
// same time, and returns its own outcome: nil, a write error of its own
// (mongo.IsDuplicateKeyError holds for a duplicate key, as for
// Collection.InsertOne), or the command's error. A caller whose ctx ends
// while its document waits gets ctx's error, and the document is not
// written; once the document is in a command, the caller waits for that
// command's outcome (insertTimeout at most), so that it always knows
// whether its document was written: a caller told of an error must not
// find its document stored, with an event in it, later.
func (in *Inserter) InsertOne(ctx context.Context, doc any) error {
	op := &insert{ctx: ctx, doc: doc, done: make(chan struct{})}
	in.mu.Lock()
	in.queue = append(in.queue, op)
	if !in.running {
		in.running = true
		go in.run()
	}
	in.mu.Unlock()
	select {
	case <-op.done:
	case <-ctx.Done():
		if op.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err()
		}
		<-op.done // sent: its outcome is known soon
	}
	return op.err
}

// run writes the queue a batch at a time until it is empty.
func (in *Inserter) run() {
	for {
		in.mu.Lock()
		n := min(len(in.queue), maxInsertBatch)
		if n == 0 {
			in.queue, in.running = nil, false
			in.mu.Unlock()
			return
		}
		batch := in.queue[:n:n]
		in.queue = in.queue[n:]
		in.mu.Unlock()
		in.write(batch)
	}
}

// write inserts a batch by one unordered insert command, leaving out the
// documents whose callers have gone, and tells each remaining caller its
// outcome.
func (in *Inserter) write(batch []*insert) {
	live := batch[:0:0]
	for _, op := range batch {
		if op.state.CompareAndSwap(queued, sent) {
			live = append(live, op)
		}
	}
	if len(live) == 0 {
		return
	}
	docs := make([]any, len(live))
	for i, op := range live {
		docs[i] = op.doc
	}
	// The first caller's values (a request id for the command monitor),
	// not its cancellation: the command serves them all.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), insertTimeout)
	defer cancel()
	_, err := in.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bulk mongo.BulkWriteException
	if err != nil && errors.As(err, &bulk) && bulk.WriteConcernError == nil {
		// Unordered: every document without a write error of its own was
		// inserted.
		own := make(map[int]error, len(bulk.WriteErrors))
		for _, we := range bulk.WriteErrors {
			own[we.Index] = mongo.WriteException{WriteErrors: mongo.WriteErrors{we.WriteError}}
		}
		for i, op := range live {
			op.finish(own[i])
		}
		return
	}
	for _, op := range live {
		op.finish(err)
	}
}

func (op *insert) finish(err error) {
	op.err = err
	close(op.done)
}
