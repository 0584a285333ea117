// Command expiration is the ticketing expiration service: it keeps the lock
// of every new order in Redis (asynq) and publishes expiration:complete the
// moment it runs out, so that orders cancels the order and the ticket is for
// sale again.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/app"
	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/events"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/expiration/internal/listener"
	"ticketing.dev/expiration/internal/logthrottle"
	"ticketing.dev/expiration/internal/task"
)

func main() {
	// go-redis logs through one process-wide logger, in plain text on
	// stderr unless told otherwise; its lines (failed dials, mostly) belong
	// in the service's JSON log, throttled like asynq's.
	redis.SetLogger(redisLogger{logthrottle.New(
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "expiration", "component", "go-redis"),
		time.Second, 5)})
	lifecycle.Main("expiration", run)
}

// redisLogger is go-redis's logger, writing warnings through slog.
type redisLogger struct {
	log *logthrottle.Logger
}

// Printf implements go-redis's logging interface.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Log(ctx, slog.LevelWarn, fmt.Sprintf(format, v...))
}

// defaultRedisPort is used when REDIS_HOST names no port.
const defaultRedisPort = "6379"

// startPingTimeout bounds the first look at Redis.
const startPingTimeout = 2 * time.Second

// settings is the service's whole configuration, read once.
type settings struct {
	// Process says where the health and readiness checks are served.
	config.Process
	NATS  config.NATS
	Redis *redis.Options
	// lostAfter shortens how long NATS Streaming may be away before the
	// service gives up; zero keeps the bus's default. Tests set it.
	lostAfter time.Duration
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		Process: config.ReadProcess(env),
		NATS:    config.ReadNATS(env),
	}
	redisOpts, redisErr := redisOptions(env.String("REDIS_HOST", ""), env.String("REDIS_URL", ""))
	s.Redis = redisOpts
	err := env.Err()
	switch {
	case redisErr == nil:
	case err == nil:
		err = fmt.Errorf("configuration: %w", redisErr)
	default:
		err = errors.Join(err, redisErr)
	}
	if err != nil {
		return settings{}, err
	}
	return s, nil
}

// redisOptions reads where Redis is: REDIS_HOST, the original's variable,
// as host or host:port, or REDIS_URL as redis://[user:password@]host[:port][/db]
// (rediss:// for TLS). Exactly one must be set.
func redisOptions(host, url string) (*redis.Options, error) {
	switch {
	case host == "" && url == "":
		return nil, errors.New("REDIS_HOST or REDIS_URL must be defined")
	case host != "" && url != "":
		return nil, errors.New("REDIS_HOST and REDIS_URL are both defined; set only one")
	case url != "":
		opts, err := redis.ParseURL(url)
		if err != nil {
			// The URL may hold a password: name the variable, not the value.
			return nil, fmt.Errorf("REDIS_URL must be a redis:// or rediss:// URL: %w", err)
		}
		return opts, nil
	}
	addr, err := redisAddr(host)
	if err != nil {
		return nil, err
	}
	return &redis.Options{Addr: addr}, nil
}

// redisAddr accepts a host, a host:port or a bracketed IPv6 address with or
// without a port, and returns host:port.
func redisAddr(v string) (string, error) {
	bad := fmt.Errorf("REDIS_HOST must be a host or host:port (use REDIS_URL for URLs), got %q", v)
	if strings.Contains(v, "/") {
		return "", bad
	}
	h, p, err := net.SplitHostPort(v)
	if err != nil {
		// No port, or a bare IPv6 address.
		h, p = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]"), defaultRedisPort
	}
	if n, err := strconv.Atoi(p); h == "" || err != nil || n < 1 || n > 65535 || strings.ContainsAny(h, "[]") {
		return "", bad
	}
	return net.JoinHostPort(h, p), nil
}

// run keeps order locks until ctx is done or the NATS Streaming connection
// is lost for good.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := readSettings(getenv)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, stdout)
}

// serve runs the service with cfg. Shutdown goes in the reverse order of
// start, so that no due task is lost: HTTP stops; asynq lets tasks in
// flight finish publishing (or puts them back in Redis) while NATS is still
// open; the rescuer stops; then NATS closes, which also ends the
// order:created subscription once handlers in flight have stored their
// tasks; Redis closes last.
//
// The subscription is not stopped before asynq: the bus closes
// subscriptions only with the connection, which asynq's handlers still
// publish through, and an order:created handled meanwhile only writes to
// Redis, which is still open.
func serve(ctx context.Context, cfg settings, stdout io.Writer) (err error) {
	rdb := redis.NewClient(cfg.Redis)
	defer lifecycle.Close(&err, func() error {
		if err := rdb.Close(); err != nil {
			return fmt.Errorf("close redis: %w", err)
		}
		return nil
	})
	// The service's only store keeps the bus's dead letters too: without
	// them an order:created that can never apply would come back for ever.
	a, err := app.Open(ctx, app.Config{Name: "expiration", Process: cfg.Process, NATS: &cfg.NATS,
		DeadLetters: redisstore.New(rdb), LostAfter: cfg.lostAfter}, stdout)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, a.Close)
	// Redis may come up after the service, as in Kubernetes: say so, and
	// let /readyz report it, rather than refuse to start.
	pingCtx, cancelPing := context.WithTimeout(ctx, startPingTimeout)
	if perr := rdb.Ping(pingCtx).Err(); perr != nil {
		a.Log.Warn("redis not reachable yet", "addr", cfg.Redis.Addr, "err", perr)
	}
	cancelPing()

	lateness, err := metrics.NewExpiration(a.Metrics)
	if err != nil {
		return err
	}
	expired := bus.NewPublisher[events.ExpirationComplete](a.Bus)
	worker := task.NewServer(rdb, a.Log)
	if err := worker.Start(task.NewHandler(expired, a.Log, task.WithMetrics(lateness))); err != nil {
		return fmt.Errorf("start asynq: %w", err)
	}
	defer worker.Shutdown()
	// Expirations whose worker died mid-task would wait minutes for asynq.
	a.Go(ctx, task.NewRescuer(rdb, expired, a.Log, task.WithRescueMetrics(lateness)).Run)

	if err := listener.Subscribe(ctx, a.Bus, bus.DefaultAckWait, listener.New(task.NewScheduler(rdb), a.Log)); err != nil {
		return err
	}

	api := a.API()
	api.Checks["redis"] = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	// Serving stops when ctx is done, and also when NATS Streaming is gone
	// for good: a service that can no longer hear orders, nor announce
	// expirations, must be restarted rather than stay up half alive.
	return a.Serve(ctx, api.Router(), "redis", cfg.Redis.Addr, "nats_client_id", cfg.NATS.ClientID)
}
