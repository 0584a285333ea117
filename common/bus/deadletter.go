package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"ticketing.dev/common/config"
)

// DefaultMaxDeliveries is how many times an event is delivered to a queue
// group before it is given up on, when Config.MaxDeliveries is zero.
const DefaultMaxDeliveries = config.DefaultMaxDeliveries

// deadLetterTimeout bounds storing a dead letter; past it the event stays
// unacknowledged and comes back.
const deadLetterTimeout = 5 * time.Second

// ErrPermanent is what errors.Is finds in an error that delivering the
// event again can never heal (see Permanent).
var ErrPermanent = errors.New("bus: permanent failure")

// Permanent marks err, returned by a handler, as one that delivering the
// event again can never heal, such as an id that can never be valid: with a
// dead-letter sink configured the event goes to it at once rather than
// after Config.MaxDeliveries deliveries. errors.Is(err, ErrPermanent)
// reports the mark, and err stays reachable through errors.Is and
// errors.As. Permanent(nil) is nil. A handler may also wrap ErrPermanent
// itself, as in fmt.Errorf("...: %w", bus.ErrPermanent).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string        { return e.err.Error() }
func (e permanentError) Unwrap() error        { return e.err }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// ChaosPanicMarker, in an event's payload, makes its handler panic on the
// event's first delivery in builds with the chaos tag, and only there: the
// chaos run's proof that a panicking handler is recovered.
const ChaosPanicMarker = "chaos:panic-once"

// DeadLetter is an event a queue group gave up on, with why.
type DeadLetter struct {
	Subject string
	Group   string
	// Data is the payload as it was published, byte for byte.
	Data []byte
	// Err is the text of the handler's last error (or the decoding error,
	// or the panic).
	Err string
	// Deliveries is how many times the server had delivered the event to
	// the group, this one included. NATS Streaming counts redeliveries in
	// memory: after it restarts, the count starts again.
	Deliveries int
	// Sequence is the event's sequence number on its subject's channel
	// (NATS Streaming) or in the stream (JetStream).
	Sequence uint64
	// Published is when the server stored the event.
	Published time.Time
	// At is when the group gave up on it.
	At time.Time
}

// DeadLetterSink stores the events a service gives up on, such as
// deadletter.Store on the service's database.
type DeadLetterSink interface {
	// Put stores d. Only once it returns nil is the event acknowledged;
	// otherwise it is delivered again and Put is called again. Put may
	// also see the same event twice when the acknowledgement after it was
	// lost (the same Subject, Group, Sequence and Published): keeping one
	// copy is enough.
	Put(ctx context.Context, d DeadLetter) error
}

// settle decides what becomes of m, an event of subject delivered to group
// whose handling failed with err: it is left unacknowledged, to be
// delivered again, until it has been delivered c.maxDeliveries times or err
// is permanent; then it is stored in the dead-letter sink and
// acknowledged. Without a sink every failed event is delivered again.
func (c *Conn) settle(ctx context.Context, log *slog.Logger, m *message, subject, group string, err error) {
	deliveries := m.deliveries
	permanent := errors.Is(err, ErrPermanent)
	if c.deadLetters == nil || (deliveries < c.maxDeliveries && !permanent) {
		log.Warn("event not handled; it will be redelivered", "seq", m.seq, "deliveries", deliveries, "err", err)
		return
	}
	d := DeadLetter{
		Subject:    subject,
		Group:      group,
		Data:       m.data,
		Err:        err.Error(),
		Deliveries: deliveries,
		Sequence:   m.seq,
		Published:  m.published,
		At:         time.Now().UTC(),
	}
	putCtx, cancel := context.WithTimeout(ctx, deadLetterTimeout)
	defer cancel()
	if perr := c.deadLetters.Put(putCtx, d); perr != nil {
		log.Error("dead letter not stored; the event will be redelivered",
			"seq", m.seq, "deliveries", deliveries, "err", err, "sink_err", perr)
		return
	}
	ack(log, m)
	c.metrics.DeadLettered(subject, group)
	log.Error("event given up on and stored as a dead letter",
		"seq", m.seq, "deliveries", deliveries, "permanent", permanent, "err", err, "data", truncate(m.data, 512))
}

// guard runs fn and turns its panic into an error, logging the stack, so
// that a poison event neither kills the service nor stops its delivery
// goroutine; the event is then settled like any failed one.
func guard(log *slog.Logger, m *message, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked", "seq", m.seq, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("bus: handler panicked: %v", r)
		}
	}()
	return fn()
}
