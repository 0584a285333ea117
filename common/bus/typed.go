package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	"time"

	"ticketing.dev/common/events"
	"ticketing.dev/common/requestid"
)

// Publisher publishes events of one type on their subject.
type Publisher[E events.Event] struct {
	conn *Conn
}

// NewPublisher returns a Publisher of E over c.
func NewPublisher[E events.Event](c *Conn) Publisher[E] {
	return Publisher[E]{conn: c}
}

// Publish encodes e and waits until the server has stored it.
func (p Publisher[E]) Publish(ctx context.Context, e E) error {
	return p.PublishID(ctx, "", e)
}

// PublishID is Publish of an event identified by id (see Conn.PublishID):
// on JetStream, published again under the same id within DuplicateWindow,
// it is stored once.
func (p Publisher[E]) PublishID(ctx context.Context, id string, e E) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("bus: encode %s: %w", e.Subject(), err)
	}
	return p.conn.PublishID(ctx, id, string(e.Subject()), data)
}

// Handler handles one event. Returning nil acknowledges it; returning an
// error leaves it unacknowledged, to be delivered again after the ack wait,
// until the connection's dead-letter rule takes it (see Config.DeadLetters
// and Permanent). A panic counts as an error.
type Handler[E events.Event] func(ctx context.Context, e E) error

// DefaultAckWait is how long the server waits for an ack before redelivering.
const DefaultAckWait = 5 * time.Second

// MaxInflight is how many events the server hands a listener before it has
// acknowledged them. An event handed over waits for the handler (or its
// worker) to finish those before it, and its ack wait runs meanwhile: with
// the server's default of 1,024, a backlog under load outlived the ack wait
// and was delivered again and again, doubling the work of a busy service.
// Sixteen keep the next events at hand and a backlog on the server.
const MaxInflight = 16

// Listener delivers events of one type to a handler, as a member of a
// durable queue group.
type Listener[E events.Event] struct {
	conn    *Conn
	group   string
	handle  Handler[E]
	ackWait time.Duration
	workers int
	key     func(E) string
}

// NewListener returns a Listener of E in queue group group (also the durable
// name), such as "orders-service".
func NewListener[E events.Event](c *Conn, group string, handle Handler[E]) *Listener[E] {
	return &Listener[E]{conn: c, group: group, handle: handle, ackWait: DefaultAckWait}
}

// WithAckWait sets the ack wait, in whole seconds of at least one; tests use
// it to see redeliveries sooner.
func (l *Listener[E]) WithAckWait(d time.Duration) *Listener[E] {
	l.ackWait = max(d.Truncate(time.Second), time.Second)
	return l
}

// Subject returns the subject the listener consumes.
func (l *Listener[E]) Subject() events.Subject {
	var zero E
	return zero.Subject()
}

// Workers is how many workers the services' listeners run (WithWorkers):
// enough that a backlog of events is worked off several at a time while
// requests compete for the database, few enough that they do not crowd
// the requests out.
const Workers = 4

// WithWorkers lets the listener handle up to n events at once: those of
// one key, as key returns it, one after the other in the order they
// arrived, so that the events of one entity are still applied in order
// while those of others go on. Without it, events are handled one at a
// time.
func (l *Listener[E]) WithWorkers(n int, key func(E) string) *Listener[E] {
	l.workers, l.key = max(n, 1), key
	return l
}

// Listen subscribes and returns; events are handled in the background until
// the connection is closed. ctx is the parent of every handler's context:
// its values reach handlers, its cancellation does not, so that a handler
// in flight at shutdown can finish.
func (l *Listener[E]) Listen(ctx context.Context) error {
	subject := string(l.Subject())
	log := l.conn.log.With("subject", subject, "group", l.group)
	base := context.WithoutCancel(ctx)

	l.conn.mu.Lock()
	defer l.conn.mu.Unlock()
	if l.conn.closed {
		return fmt.Errorf("bus: listen %s: %w", subject, errClosed)
	}
	receive := func(m *message) {
		l.conn.handling(func() {
			if e, ok := l.decode(base, log, m); ok {
				l.apply(base, log, m, e)
			}
		})
	}
	if l.workers > 1 {
		receive = l.dispatch(base, log)
	}
	sub, err := l.conn.tr.subscribe(ctx, subject, l.group, l.ackWait, receive)
	if err != nil {
		return fmt.Errorf("bus: listen %s: %w", subject, err)
	}
	l.conn.subs = append(l.conn.subs, sub)
	return nil
}

// delivery is an event and the message that brought it.
type delivery[E events.Event] struct {
	m *message
	e E
}

// dispatch starts the listener's workers, each with a queue of its own, and
// returns what hands each message to the queue of its key. The workers stop
// once the connection is closed; what is left in their queues is not
// acknowledged, and so delivered again to the group.
func (l *Listener[E]) dispatch(ctx context.Context, log *slog.Logger) func(*message) {
	done := make(chan struct{})
	l.conn.afterClose = append(l.conn.afterClose, func() { close(done) })
	queues := make([]chan delivery[E], l.workers)
	for i := range queues {
		q := make(chan delivery[E], MaxInflight) // the server hands over no more
		queues[i] = q
		go func() {
			for {
				select {
				case <-done:
					return
				case d := <-q:
					l.conn.handling(func() { l.apply(ctx, log, d.m, d.e) })
				}
			}
		}()
	}
	return func(m *message) {
		var (
			e  E
			ok bool
		)
		l.conn.handling(func() { e, ok = l.decode(ctx, log, m) })
		if !ok {
			return
		}
		h := fnv.New32a()
		h.Write([]byte(l.keyOf(log, m, e)))
		select {
		case queues[h.Sum32()%uint32(len(queues))] <- delivery[E]{m, e}:
		case <-done:
		}
	}
}

// keyOf returns e's key for WithWorkers. Should the key function panic,
// the event goes to the first worker: the panic is logged, and the
// delivery goroutine, which serves the whole subscription, lives on.
func (l *Listener[E]) keyOf(log *slog.Logger, m *message, e E) (key string) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("worker key function panicked", "seq", m.seq, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			key = ""
		}
	}()
	return l.key(e)
}

// decode returns m's event. An undecodable one cannot be helped by
// delivering it again: with a dead-letter sink it goes there at once,
// without one it is logged and acknowledged.
func (l *Listener[E]) decode(ctx context.Context, log *slog.Logger, m *message) (E, bool) {
	subject := string(l.Subject())
	l.conn.metrics.Delivered(subject, m.redelivered())
	var e E
	if err := json.Unmarshal(m.data, &e); err != nil {
		l.conn.metrics.Undecodable(subject)
		if l.conn.deadLetters != nil {
			l.conn.settle(ctx, log, m, subject, l.group, Permanent(fmt.Errorf("bus: undecodable %s payload: %w", subject, err)))
			return e, false
		}
		log.Error("dropping undecodable event", "seq", m.seq, "err", err, "data", truncate(m.data, 512))
		ack(log, m)
		return e, false
	}
	return e, true
}

// apply handles e and acknowledges m once the handler has succeeded; a
// failed event is settled by the connection's dead-letter rule. The
// handler's context carries the request id that came with the event, and
// the log lines about it name it.
func (l *Listener[E]) apply(ctx context.Context, log *slog.Logger, m *message, e E) {
	subject := string(l.Subject())
	if m.requestID != "" {
		ctx = requestid.With(ctx, m.requestID)
		log = log.With("request_id", m.requestID)
	}
	start := time.Now()
	err := guard(log, m, func() error {
		chaosHook(m)
		return l.handle(ctx, e)
	})
	l.conn.metrics.Handled(subject, time.Since(start), err)
	if err != nil {
		l.conn.settle(ctx, log, m, subject, l.group, err)
		return
	}
	ack(log, m)
}

func ack(log *slog.Logger, m *message) {
	if err := m.ack(); err != nil {
		log.Warn("ack failed; the event will be redelivered", "err", err)
	}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
