// Package app opens, in one order, what every service that owns a database
// and speaks on the bus starts with — its logger, its debug listener and
// metrics, MongoDB, the bus with its dead letters — and closes them in the
// reverse order, so that each main.go's run reads as what is its own: its
// store, its listeners, its API.
package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/deadletter"
	"ticketing.dev/common/keylock"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/mongodb"
	"ticketing.dev/common/outbox"
	"ticketing.dev/common/web"
)

// Config is what Open needs of a service's configuration.
type Config struct {
	// Name is the service's, on every log line.
	Name string
	// HTTP carries LOG_LEVEL, DEBUG_ADDR, PPROF_ADDR and MONGO_URI.
	HTTP config.HTTP
	// Database is the database when MONGO_URI names none.
	Database string
	NATS     config.NATS
}

// App is a service's shared start: a logger, a metrics registry served on
// the debug listener, its database and its bus connection.
type App struct {
	Log     *slog.Logger
	Metrics *prometheus.Registry
	DB      *mongo.Database
	Bus     *bus.Conn

	closers []func() error // in the order opened
}

// Open opens, in order, the logger (to stdout), the debug listener with
// the metrics (DEBUG_ADDR; none when unset), the profiles' listener
// (PPROF_ADDR; none when unset), MongoDB with its commands
// counted, and the bus with its counts and the service's dead letters
// (deadletter.Store), retrying the bus until ctx is done. On failure it
// closes what it opened.
func Open(ctx context.Context, cfg Config, stdout io.Writer) (_ *App, err error) {
	a := &App{Log: lifecycle.Logger(stdout, cfg.HTTP.LogLevel, cfg.Name), Metrics: metrics.NewRegistry()}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Close())
		}
	}()
	stopDebug, err := web.Debug(cfg.HTTP.DebugAddr, a.Metrics, a.Log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, stopDebug)
	stopPprof, err := web.Pprof(cfg.HTTP.PprofAddr, a.Log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, stopPprof)

	db, disconnect, err := lifecycle.OpenMongo(cfg.HTTP.MongoURI, cfg.Database, mongodb.WithMetrics(a.Metrics))
	if err != nil {
		return nil, err
	}
	a.DB = db
	a.closers = append(a.closers, disconnect)

	busCfg := bus.ConfigFrom(cfg.NATS)
	busCfg.Metrics = a.Metrics
	busCfg.DeadLetters = deadletter.New(db)
	if a.Bus, err = bus.Connect(ctx, busCfg, a.Log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.Bus.Close)
	return a, nil
}

// Relay returns the outbox relay of collection, publishing on the bus, with
// its backlog and the age of its oldest pending event in the metrics. The
// relay takes an entity's lock in locks to remove its published events:
// the store writing the entities must share them.
func (a *App) Relay(collection string, locks *keylock.Locks) (*outbox.Relay, error) {
	relay := outbox.NewRelay(a.DB.Collection(collection), a.Bus, locks, a.Log)
	if err := metrics.Outbox(a.Metrics, collection, func() (int, time.Time) {
		s := relay.Stats()
		return s.Pending, s.Oldest
	}); err != nil {
		return nil, err
	}
	return relay, nil
}

// Close closes what Open opened, in the reverse order: the bus (waiting
// for handlers in flight, keeping the durable queue groups), MongoDB, the
// debug listener.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	a.closers = nil
	return errors.Join(errs...)
}
