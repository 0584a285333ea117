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
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/config"
	"ticketing.dev/common/deadletter/redisstore"
	"ticketing.dev/common/events"
	"ticketing.dev/common/lifecycle"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/web"
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "expiration:", err)
		os.Exit(1)
	}
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
	// ListenAddr is where the health and readiness checks are served.
	ListenAddr string
	LogLevel   slog.Level
	NATS       config.NATS
	Redis      *redis.Options
	// DebugAddr is where metrics are served; empty serves none.
	DebugAddr string
	// PprofAddr is where profiles are served; empty serves none.
	PprofAddr string
	// lostAfter shortens how long NATS Streaming may be away before the
	// service gives up; zero keeps the bus's default. Tests set it.
	lostAfter time.Duration
}

func readSettings(getenv func(string) string) (settings, error) {
	env := config.NewEnv(getenv)
	s := settings{
		ListenAddr: config.ReadListenAddr(env),
		LogLevel:   env.LogLevel("LOG_LEVEL"),
		NATS:       config.ReadNATS(env),
	}
	s.DebugAddr = config.ReadDebugAddr(env)
	s.PprofAddr = config.ReadPprofAddr(env)
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
// open; then NATS closes, which also ends the order:created subscription
// once handlers in flight have stored their tasks; Redis closes last.
//
// The subscription is not stopped before asynq: the bus closes
// subscriptions only with the connection, which asynq's handlers still
// publish through, and an order:created handled meanwhile only writes to
// Redis, which is still open.
func serve(ctx context.Context, cfg settings, stdout io.Writer) (err error) {
	log := lifecycle.Logger(stdout, cfg.LogLevel, "expiration")

	reg := metrics.NewRegistry()
	stopDebug, err := web.Debug(cfg.DebugAddr, reg, log)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, stopDebug)
	stopPprof, err := web.Pprof(cfg.PprofAddr, log)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, stopPprof)

	rdb := redis.NewClient(cfg.Redis)
	defer lifecycle.Close(&err, func() error {
		if err := rdb.Close(); err != nil {
			return fmt.Errorf("close redis: %w", err)
		}
		return nil
	})
	// Redis may come up after the service, as in Kubernetes: say so, and
	// let /readyz report it, rather than refuse to start.
	pingCtx, cancelPing := context.WithTimeout(ctx, startPingTimeout)
	if perr := rdb.Ping(pingCtx).Err(); perr != nil {
		log.Warn("redis not reachable yet", "addr", cfg.Redis.Addr, "err", perr)
	}
	cancelPing()

	busCfg := bus.ConfigFrom(cfg.NATS)
	busCfg.LostAfter = cfg.lostAfter
	busCfg.Metrics = reg
	// The service's only store keeps its dead letters too: without them an
	// order:created that can never apply would come back for ever.
	busCfg.DeadLetters = redisstore.New(rdb)
	conn, err := bus.Connect(ctx, busCfg, log)
	if err != nil {
		return err
	}
	defer lifecycle.Close(&err, conn.Close)

	lateness, err := metrics.NewExpiration(reg)
	if err != nil {
		return err
	}
	expired := bus.NewPublisher[events.ExpirationComplete](conn)
	worker := task.NewServer(rdb, log)
	if err := worker.Start(task.NewHandler(expired, log, task.WithMetrics(lateness))); err != nil {
		return fmt.Errorf("start asynq: %w", err)
	}
	defer worker.Shutdown()
	// Expirations whose worker died mid-task would wait minutes for asynq.
	rescuing := lifecycle.Go(ctx, task.NewRescuer(rdb, expired, log, task.WithRescueMetrics(lateness)).Run)
	defer lifecycle.Close(&err, rescuing.Stop)

	if err := listener.New(task.NewScheduler(rdb), log).Listen(ctx, conn, bus.DefaultAckWait); err != nil {
		return err
	}

	requests, err := metrics.NewHTTP(reg)
	if err != nil {
		return err
	}
	router := web.NewRouter(log, web.WithMetrics(requests))
	web.Health(router, map[string]web.Check{
		"redis": func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"nats":  conn.Ping,
	})
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}

	// Serving stops when ctx is done, and also when NATS Streaming is gone
	// for good: a service that can no longer hear orders, nor announce
	// expirations, must be restarted rather than stay up half alive.
	serveCtx, stopServing := lifecycle.Until(ctx, conn.Lost())
	defer stopServing()
	log.Info("starting", "redis", cfg.Redis.Addr, "nats_client_id", cfg.NATS.ClientID)
	if err := web.Serve(serveCtx, ln, router, log); err != nil {
		return err
	}
	return conn.Err()
}
