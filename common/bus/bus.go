// Package bus carries events between services over NATS Streaming or NATS
// JetStream, as Config.Transport (BUS) chooses. It is the only package
// that knows the transport: services see typed publishers and listeners of
// the payloads in package events, and the same behaviour on either.
//
// Delivery follows the contract: durable queue groups named after the
// service, every available event delivered to a new group, manual acks
// with a 5 s ack wait, at most MaxInflight unacknowledged events per
// listener. A handler that returns nil acks its event; one that returns an
// error, or panics, leaves it to be redelivered (a panic is recovered and
// logged with its stack: a poison event does not stop the service).
//
// Poison events do not stay forever: given a dead-letter sink in
// Config.DeadLetters, an event whose handler has failed on its
// Config.MaxDeliveries-th delivery, or has returned an error marked
// Permanent, is stored in the sink, acknowledged, counted and logged; if the
// sink fails, the event stays unacknowledged and comes back. A payload that
// cannot be decoded is permanent too: it goes to the sink at once. Without
// a sink, failed events are redelivered for as long as they fail, and an
// undecodable payload is logged and acked, since redelivering it cannot
// help. Package deadletter keeps dead letters in MongoDB and replays them;
// package deadletter/redisstore does the same in Redis.
//
// JetStream adds what NATS Streaming lacks: an event published with an id
// (PublishID, as the outbox relay does) is stored once however often it is
// published again within DuplicateWindow, and the request id in a
// publisher's context (see package requestid) travels with the event to the
// listeners' contexts and log lines, and to the events they publish in
// turn.
//
// Given a registry in Config.Metrics, a connection counts by subject what
// it publishes and what its listeners handle, with the outcome (see
// package metrics).
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"ticketing.dev/common/config"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/requestid"
)

// Config names the server and this client.
type Config struct {
	// Transport is STAN (also when empty) or JetStream.
	Transport string
	URL       string
	// ClusterID is the NATS Streaming cluster; JetStream has none.
	ClusterID string
	// ClientID must be unique among connected clients; Kubernetes uses the pod name.
	ClientID string
	// Replicas is how many servers keep the JetStream stream (at least
	// 1, the default; 3 in a 3-node cluster). Every service must give
	// the same.
	Replicas int
	// User and Password are the client's credentials, when the server
	// checks them (see Grant.Permissions). Empty, the client sends those
	// in URL, if any.
	User, Password string
	// LostAfter is about how long the server may stay unreachable before
	// the connection is lost for good (see Lost). It counts in whole
	// seconds, at least 2; zero means 10 s. Tests shorten it.
	LostAfter time.Duration
	// Metrics, when set, counts what the connection publishes and its
	// listeners handle, by subject (see metrics.NewBus).
	Metrics prometheus.Registerer
	// MaxDeliveries is how many times an event is delivered to a queue
	// group whose handler fails on it before it goes to DeadLetters; zero
	// means DefaultMaxDeliveries. It has no effect without DeadLetters.
	MaxDeliveries int
	// DeadLetters, when set, receives the events the connection's
	// listeners give up on. Unset, failed events are redelivered for as
	// long as they fail.
	DeadLetters DeadLetterSink
}

// Connection timing. A server unreachable for about pingInterval×pingMaxOut
// loses the connection for good.
const (
	pingInterval   = 1 // seconds, as stan counts them
	pingMaxOut     = 10
	minPingMaxOut  = 2 // the least stan accepts
	publishTimeout = 5 * time.Second
	pingTimeout    = 2 * time.Second
	maxBackoff     = 5 * time.Second
	reconnectWait  = 250 * time.Millisecond
)

// ErrNotPermitted is reported by Publish when the server refuses the
// subject to this client's user (see Grant.Permissions).
var ErrNotPermitted = errors.New("bus: subject not permitted")

// ErrConnectionLost is reported by Lost when the server has been unreachable
// for too long; the service should stop and be restarted.
var ErrConnectionLost = errors.New("bus: connection lost")

// errClosed is reported by Listen on a closed connection.
var errClosed = errors.New("bus: connection closed")

// Conn is a connection to the bus.
type Conn struct {
	nc      *nats.Conn
	tr      transport
	log     *slog.Logger
	metrics *metrics.Bus // nil records nothing

	refusals refusals

	deadLetters   DeadLetterSink // nil keeps redelivering
	maxDeliveries int

	lost     chan struct{}
	lostOnce sync.Once
	lostErr  error

	mu         sync.Mutex
	subs       []subscription
	afterClose []func() // once the subscriptions are closed
	closed     bool

	// deliveries is held for reading by every handler in flight; Close
	// takes it to wait for them before it closes the subscriptions, so
	// that their acks still reach the server.
	deliveries sync.RWMutex
	stopping   bool // guarded by deliveries
}

// Connect dials the server, retrying with backoff until it answers or ctx
// is done, so services may start before the server does.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Conn, error) {
	if cfg.MaxDeliveries < 0 {
		return nil, fmt.Errorf("bus: MaxDeliveries must be at least 1, got %d", cfg.MaxDeliveries)
	}
	if cfg.MaxDeliveries == 0 {
		cfg.MaxDeliveries = DefaultMaxDeliveries
	}
	m, err := metrics.NewBus(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	backoff := 100 * time.Millisecond
	for {
		c, err := dial(cfg, m, log)
		if err == nil {
			log.Info("connected to the bus", "transport", transportName(cfg), "url", cfg.URL, "cluster_id", cfg.ClusterID, "client_id", cfg.ClientID)
			return c, nil
		}
		log.Warn("bus not reachable, retrying", "transport", transportName(cfg), "url", cfg.URL, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bus: connect to %s: %w", cfg.URL, errors.Join(ctx.Err(), err))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func transportName(cfg Config) string {
	if cfg.Transport == "" {
		return STAN
	}
	return cfg.Transport
}

func dial(cfg Config, m *metrics.Bus, log *slog.Logger) (*Conn, error) {
	c := &Conn{
		log: log, metrics: m, lost: make(chan struct{}),
		deadLetters: cfg.DeadLetters, maxDeliveries: cfg.MaxDeliveries,
	}
	opts := []nats.Option{
		nats.Name(cfg.ClientID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.Timeout(2 * time.Second),
		nats.ErrorHandler(c.asyncError),
	}
	if transportName(cfg) == JetStream {
		// NATS Streaming has pings of its own that lose the session
		// (see dialSTAN); on JetStream the NATS connection is all
		// there is, so it gives up reconnecting after about LostAfter.
		opts = append(opts,
			nats.PingInterval(time.Duration(pingInterval)*time.Second),
			nats.MaxPingsOutstanding(minPingMaxOut),
			nats.MaxReconnects(int(lostAfter(cfg)/reconnectWait)),
			nats.ClosedHandler(func(nc *nats.Conn) {
				if !c.closing() {
					c.markLost(fmt.Errorf("gave up reconnecting: %v", nc.LastError()))
				}
			}),
		)
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	c.tr, err = newTransport(cfg, c)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// lostAfter is about how long cfg lets the server stay unreachable.
func lostAfter(cfg Config) time.Duration {
	if cfg.LostAfter > 0 {
		return max(cfg.LostAfter.Truncate(time.Second), minPingMaxOut*time.Second)
	}
	return pingMaxOut * time.Second
}

// closing reports whether Close has begun.
func (c *Conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Conn) markLost(err error) {
	c.lostOnce.Do(func() {
		c.lostErr = fmt.Errorf("%w: %w", ErrConnectionLost, err)
		c.log.Error("bus connection lost for good", "err", err)
		close(c.lost)
	})
}

// Lost is closed when the connection is lost for good. A service selects on
// it and stops, rather than staying up half alive.
func (c *Conn) Lost() <-chan struct{} { return c.lost }

// Err returns why the connection was lost, once Lost is closed.
func (c *Conn) Err() error {
	select {
	case <-c.lost:
		return c.lostErr
	default:
		return nil
	}
}

// Ping reports whether the server is reachable; readiness checks use it.
func (c *Conn) Ping(ctx context.Context) error {
	if err := c.Err(); err != nil {
		return err
	}
	if c.nc.Status() != nats.CONNECTED {
		return fmt.Errorf("bus: nats connection is %s", c.nc.Status())
	}
	if _, ok := ctx.Deadline(); !ok {
		// nats refuses to flush without a deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pingTimeout)
		defer cancel()
	}
	if err := c.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("bus: ping: %w", err)
	}
	return nil
}

// Publish sends data on subject and waits until the server has stored it.
// The request id in ctx (see package requestid) goes with it, on JetStream.
func (c *Conn) Publish(ctx context.Context, subject string, data []byte) error {
	return c.PublishID(ctx, "", subject, data)
}

// PublishID is Publish of an event identified by id: on JetStream the
// stream stores it once however often it is published under the same id
// within DuplicateWindow. The outbox relay publishes so, with each
// message's id, so that a message published again after a crash is not
// delivered twice. An empty id identifies nothing.
func (c *Conn) PublishID(ctx context.Context, id, subject string, data []byte) error {
	err := c.publish(ctx, outgoing{id: id, subject: subject, data: data, requestID: requestid.From(ctx)})
	c.metrics.Published(subject, err)
	return err
}

func (c *Conn) publish(ctx context.Context, out outgoing) error {
	// While disconnected, nats.go would buffer the message and send it on
	// reconnect even after this call timed out, so every retry of the
	// caller would add a duplicate. Fail at once instead.
	if !c.nc.IsConnected() {
		return fmt.Errorf("bus: publish %s: nats connection is %s", out.subject, c.nc.Status())
	}
	// A subject the server does not permit is dropped with no reply:
	// without the server's error, seen by asyncError, the publish would
	// wait for its ack until it timed out.
	natsSubject := c.tr.natsSubject(out.subject)
	refused := c.refusals.wait(natsSubject)
	defer c.refusals.done(natsSubject, refused)
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := c.tr.publish(ctx, out, refused); err != nil {
		return fmt.Errorf("bus: publish %s: %w", out.subject, err)
	}
	return nil
}

// Close stops deliveries, waits for handlers in flight, and closes the
// connection. Durable subscriptions are closed, not unsubscribed, so the
// service's queue group resumes where it left off.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	subs, afterClose := c.subs, c.afterClose
	c.mu.Unlock()

	c.deliveries.Lock()
	c.stopping = true
	c.deliveries.Unlock()
	var errs []error
	for _, s := range subs {
		if err := s.close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range afterClose {
		f()
	}
	// A lost connection has already ended its session on this side; asking
	// the server to end it too would only wait out a timeout and fail.
	if c.Err() == nil {
		if err := c.tr.close(); err != nil {
			errs = append(errs, err)
		}
	}
	c.nc.Close()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bus: close: %w", err)
	}
	return nil
}

// handling runs fn, a handler's work on a delivered event, unless Close has
// begun; Close waits for every fn running.
func (c *Conn) handling(fn func()) {
	c.deliveries.RLock()
	defer c.deliveries.RUnlock()
	if c.stopping {
		return // not acknowledged: delivered again to the group once Close is done
	}
	fn()
}

// ConfigFrom returns the configuration of a service's connection as it read
// it from the environment (BUS, NATS_URL, NATS_CLUSTER_ID, NATS_CLIENT_ID,
// NATS_USER, NATS_PASSWORD, BUS_MAX_DELIVERIES, JETSTREAM_REPLICAS). The
// service adds its Metrics and DeadLetters.
func ConfigFrom(n config.NATS) Config {
	return Config{
		Transport: n.Transport, Replicas: n.Replicas,
		URL: n.URL, ClusterID: n.ClusterID, ClientID: n.ClientID,
		User: n.User, Password: n.Password, MaxDeliveries: n.MaxDeliveries,
	}
}
