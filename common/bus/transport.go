package bus

import (
	"context"
	"fmt"
	"time"
)

// The transports, as BUS names them.
const (
	// STAN is NATS Streaming (stan.go): the original app's bus, and the
	// default.
	STAN = "stan"
	// JetStream is NATS JetStream (nats.go's jetstream package): one
	// stream of every subject, a durable consumer per queue group and
	// subject.
	JetStream = "jetstream"
)

// Transports lists the transports Config.Transport accepts.
func Transports() []string { return []string{STAN, JetStream} }

// transport is what a Conn needs of the server behind it; stan.go and
// jetstream.go implement it. The Conn keeps everything else — the NATS
// connection's health, metrics, handlers in flight, dead letters — the
// same for both.
type transport interface {
	// publish sends out and returns once the server has stored it, it
	// failed, refused receives the server's refusal of the subject, or
	// ctx is done.
	publish(ctx context.Context, out outgoing, refused <-chan error) error
	// natsSubject is the NATS subject a publish of subject goes to, as
	// the server names it when it refuses one.
	natsSubject(subject string) string
	// subscribe delivers the events of subject to receive, one at a
	// time, as a member of the durable queue group group, handing over
	// up to MaxInflight unacknowledged ones and redelivering those not
	// acknowledged within ackWait.
	subscribe(ctx context.Context, subject, group string, ackWait time.Duration, receive func(*message)) (subscription, error)
	// close ends the client's session on the server, if it has one.
	close() error
}

// subscription is a transport's subscription; close stops it, leaving
// the durable queue group on the server.
type subscription interface {
	close() error
}

// outgoing is an event on its way to the server.
type outgoing struct {
	// id, when set, identifies the event: a transport that de-duplicates
	// (JetStream) stores it once however often it is published under
	// the same id within its window.
	id      string
	subject string
	data    []byte
	// requestID is the request that caused the event, carried in a
	// header by a transport that has them (JetStream).
	requestID string
}

// message is an event delivered to a listener, whichever the transport.
type message struct {
	data []byte
	// seq is the event's sequence number on the server: on its channel
	// with NATS Streaming, in the stream with JetStream.
	seq uint64
	// deliveries counts this delivery to the queue group: 1 the first
	// time. NATS Streaming counts in memory, so a restart starts again.
	deliveries int
	published  time.Time
	requestID  string
	ack        func() error
}

func (m *message) redelivered() bool { return m.deliveries > 1 }

// newTransport dials the transport cfg names over c's NATS connection.
func newTransport(cfg Config, c *Conn) (transport, error) {
	switch cfg.Transport {
	case "", STAN:
		return dialSTAN(cfg, c)
	case JetStream:
		return dialJetStream(cfg, c)
	default:
		return nil, fmt.Errorf("bus: unknown transport %q (want %q or %q)", cfg.Transport, STAN, JetStream)
	}
}
