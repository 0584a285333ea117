// Package app opens, in one order, what every service starts with — its
// logger, its debug listener and metrics, MongoDB, the bus with its dead
// letters — runs its background work, serves its HTTP handler, and closes
// them all in the reverse order, so that each main.go's run reads as what
// is its own: its store, its listeners, its API.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
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
	Name    string
	Process config.Process
	// MongoURI names the service's MongoDB; empty, it has none.
	MongoURI string
	// Database is the database when MongoURI names none.
	Database string
	// NATS is the service's bus; nil, it has none.
	NATS *config.NATS
	// DeadLetters keeps the events the bus gives up on; nil keeps them in
	// the service's database (deadletter.Store).
	DeadLetters bus.DeadLetterSink
	// LostAfter shortens how long the bus may be away before the service
	// gives up (bus.Config.LostAfter); zero keeps the bus's default.
	LostAfter time.Duration
}

// App is a service's shared start: a logger, a metrics registry served on
// the debug listener with the HTTP requests' metrics in it, and the
// database and bus connection when the service has them.
type App struct {
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	Requests *metrics.HTTP
	DB       *mongo.Database // nil without Config.MongoURI
	Bus      *bus.Conn       // nil without Config.NATS

	listenAddr string
	stops      []<-chan struct{} // closed when a background function returns
	closers    []func() error    // in the order opened
}

// Open opens, in order, the logger (to stdout), the debug listener with
// the metrics (DEBUG_ADDR; none when unset), the profiles' listener
// (PPROF_ADDR; none when unset), MongoDB with its commands counted, and
// the bus with its counts and the service's dead letters, retrying the bus
// until ctx is done. On failure it closes what it opened.
func Open(ctx context.Context, cfg Config, stdout io.Writer) (_ *App, err error) {
	a := &App{
		Log:        lifecycle.Logger(stdout, cfg.Process.LogLevel, cfg.Name),
		Metrics:    metrics.NewRegistry(),
		listenAddr: cfg.Process.ListenAddr,
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, a.Close())
		}
	}()
	if a.Requests, err = metrics.NewHTTP(a.Metrics); err != nil {
		return nil, err
	}
	stopDebug, err := web.Debug(cfg.Process.DebugAddr, a.Metrics, a.Log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, stopDebug)
	stopPprof, err := web.Pprof(cfg.Process.PprofAddr, a.Log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, stopPprof)

	if cfg.MongoURI != "" {
		db, disconnect, err := mongodb.Open(cfg.MongoURI, cfg.Database, mongodb.WithMetrics(a.Metrics))
		if err != nil {
			return nil, err
		}
		a.DB = db
		a.closers = append(a.closers, disconnect)
	}

	if cfg.NATS != nil {
		busCfg := bus.ConfigFrom(*cfg.NATS)
		busCfg.Metrics = a.Metrics
		busCfg.LostAfter = cfg.LostAfter
		busCfg.DeadLetters = cfg.DeadLetters
		if busCfg.DeadLetters == nil && a.DB != nil {
			busCfg.DeadLetters = deadletter.New(a.DB)
		}
		if a.Bus, err = bus.Connect(ctx, busCfg, a.Log); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.Bus.Close)
	}
	return a, nil
}

// Go runs fn in the background (lifecycle.Go) until Close, which stops it,
// and waits for it, before it closes the bus: functions started later are
// stopped first. Serve stops serving if fn returns before then: a service
// whose relay or sweep has stopped is to be restarted, not left half
// alive.
func (a *App) Go(ctx context.Context, fn func(context.Context) error) {
	b := lifecycle.Go(ctx, fn)
	a.stops = append(a.stops, b.Done())
	a.closers = append(a.closers, b.Stop)
}

// Checks are the readiness checks of what Open connected: "mongo" and
// "nats" when the service has them.
func (a *App) Checks() map[string]web.Check {
	checks := map[string]web.Check{}
	if a.DB != nil {
		checks["mongo"] = mongodb.Ping(a.DB)
	}
	if a.Bus != nil {
		checks["nats"] = a.Bus.Ping
	}
	return checks
}

// API is what the service's HTTP surface is built with: its logger, the
// requests' metrics, and Checks.
func (a *App) API() web.API {
	return web.API{Log: a.Log, Metrics: a.Requests, Checks: a.Checks()}
}

// Serve logs "starting" with attrs and serves h on the service's address
// (LISTEN_HOST and PORT) until ctx is done, the bus is lost for good or a
// function started with Go returns; then it stops taking requests and
// waits for those in flight (web.Serve). After a lost bus it returns the
// bus's error.
func (a *App) Serve(ctx context.Context, h http.Handler, attrs ...any) error {
	ln, err := net.Listen("tcp", a.listenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	stops := slices.Clone(a.stops)
	if a.Bus != nil {
		stops = append(stops, a.Bus.Lost())
	}
	serveCtx, stopServing := lifecycle.Until(ctx, stops...)
	defer stopServing()
	a.Log.Info("starting", attrs...)
	if err := web.Serve(serveCtx, ln, h, a.Log); err != nil {
		return err
	}
	if a.Bus != nil {
		return a.Bus.Err()
	}
	return nil
}

// Relay returns the outbox relay of collection, publishing on the bus, with
// its backlog and the age of its oldest pending event in the metrics. The
// relay takes an entity's lock in its Locks to remove its published
// events: the store writing the entities must hold the same locks.
func (a *App) Relay(collection string) (*outbox.Relay, error) {
	relay := outbox.NewRelay(a.DB.Collection(collection), a.Bus, new(keylock.Locks), a.Log)
	if err := metrics.Outbox(a.Metrics, collection, func() (int, time.Time) {
		s := relay.Stats()
		return s.Pending, s.Oldest
	}); err != nil {
		return nil, err
	}
	return relay, nil
}

// Retry calls fn until it succeeds or ctx is done (lifecycle.Retry), logging
// each failure as a failure to do what.
func (a *App) Retry(ctx context.Context, what string, fn func(context.Context) error) error {
	return lifecycle.Retry(ctx, a.Log, what, fn)
}

// Close stops and closes, in the reverse order of start, what Go started
// and Open opened: the background functions, the bus (waiting for handlers
// in flight, keeping the durable queue groups), MongoDB, the debug
// listeners.
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
