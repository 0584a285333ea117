// Command orders is the ticketing orders service: buyers place, list, show
// and cancel orders, which lock a ticket for a while; it keeps a replica of
// the tickets from ticket events, cancels orders on expiration:complete and
// completes them on payment:created.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/app"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/session"
	"ticketing.dev/orders/internal/httpapi"
	"ticketing.dev/orders/internal/listener"
	"ticketing.dev/orders/internal/order"
	"ticketing.dev/orders/internal/orderdb"
	"ticketing.dev/orders/internal/sweeper"
)

func main() { lifecycle.Main("orders", run) }

// defaultDatabase is used when MONGO_URI names no database.
const defaultDatabase = "orders"

// settings is the service's whole configuration, read once.
type settings struct {
	config.HTTP
	NATS config.NATS
	// ExpirationWindow is how long an order locks its ticket.
	ExpirationWindow time.Duration
	// ExpiryGrace is how long after its expiresAt an order is left to
	// expiration:complete before the sweep cancels it itself; the sweep runs
	// every half grace period (sweeper.Interval).
	ExpiryGrace time.Duration
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		HTTP:             config.ReadHTTP(env),
		NATS:             config.ReadNATS(env),
		ExpirationWindow: env.Duration("EXPIRATION_WINDOW", order.DefaultWindow),
		ExpiryGrace:      env.Duration("EXPIRY_GRACE", sweeper.DefaultGrace),
	}
	var problems []error
	if err := env.Err(); err != nil {
		problems = append(problems, err)
	}
	if s.ExpiryGrace < sweeper.MinGrace {
		problems = append(problems, fmt.Errorf("configuration: EXPIRY_GRACE must be at least %s, got %s", sweeper.MinGrace, s.ExpiryGrace))
	}
	if err := errors.Join(problems...); err != nil {
		return settings{}, err
	}
	return s, nil
}

// deps are what run takes from outside its environment. run uses
// productionDeps; tests start the service with their own, to move its
// clock, shorten the ack wait and watch its handlers.
type deps struct {
	// clock is the time orders are placed, expired and swept by.
	clock func() time.Time
	// ackWait is how long the bus waits for a handler's ack before it
	// delivers the event again.
	ackWait time.Duration
	// subjects returns what handles each subject the service consumes:
	// its handlers, or a wrapper of them.
	subjects func(*listener.Handlers) listener.Subjects
	// started is called once the service is wired, before it serves.
	started func(parts)
}

// parts are what run has wired that a test reaches into.
type parts struct {
	db       *mongo.Database
	orders   *order.Service
	store    *orderdb.Store
	handlers *listener.Handlers
	reg      *prometheus.Registry
}

// productionDeps are run's: the wall clock, the bus's ack wait and the
// handlers as they are.
func productionDeps() deps {
	return deps{
		clock:    time.Now,
		ackWait:  bus.DefaultAckWait,
		subjects: func(h *listener.Handlers) listener.Subjects { return h },
		started:  func(parts) {},
	}
}

// run serves the orders API, consumes the service's events and sweeps for
// orders whose expiration never came until ctx is done or the NATS
// Streaming connection is lost for good, then shuts down: HTTP first, then
// the sweeper, then the outbox relay, then NATS (waiting for handlers in
// flight, keeping the durable subscriptions), then MongoDB.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	return runWith(ctx, getenv, stdout, productionDeps())
}

// runWith is run with d in place of productionDeps.
func runWith(ctx context.Context, getenv func(string) string, stdout io.Writer, d deps) (err error) {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, app.Config{Name: "orders", Process: cfg.Process, MongoURI: cfg.MongoURI,
		Database: defaultDatabase, NATS: &cfg.NATS}, stdout)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, a.Close)

	relay, err := a.Relay(orderdb.OrdersCollection)
	if err != nil {
		return err
	}
	// The store holds the locks the relay takes to remove published events.
	store := orderdb.New(a.DB, relay.Locks(), relay, orderdb.WithClock(d.clock))
	if err := a.Retry(ctx, "create indexes", store.EnsureIndexes); err != nil {
		return err
	}
	orders := order.NewService(store, cfg.ExpirationWindow, order.WithClock(d.clock))

	// The relay starts before the listeners and the API write anything, and
	// publishes whatever a previous process left pending.
	a.Go(ctx, relay.Run)
	handlers := listener.New(orders, a.Log)
	if err := listener.Subscribe(ctx, a.Bus, d.ackWait, d.subjects(handlers)); err != nil {
		return err
	}
	// The sweep writes events too, so it starts after the relay and stops
	// before it.
	sweepMetrics, err := metrics.NewSweep(a.Metrics)
	if err != nil {
		return err
	}
	sweep, err := sweeper.New(orders, cfg.ExpiryGrace, sweeper.Interval(cfg.ExpiryGrace), a.Log, sweepMetrics)
	if err != nil {
		return err
	}
	a.Go(ctx, sweep.Run)

	handler := httpapi.Routes(httpapi.Deps{
		API:      a.API(),
		Orders:   orders,
		Sessions: session.NewManager(cfg.JWTKey, cfg.SessionTTL, cfg.CookieSecure),
	})
	d.started(parts{db: a.DB, orders: orders, store: store, handlers: handlers, reg: a.Metrics})
	return a.Serve(ctx, handler, "database", a.DB.Name(), "expiration_window", cfg.ExpirationWindow.String(),
		"expiry_grace", cfg.ExpiryGrace.String())
}
