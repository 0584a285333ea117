package task

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"ticketing.dev/expiration/internal/logthrottle"
)

// Server settings.
const (
	// delayedTaskCheckInterval is how often due tasks move from the
	// schedule to the queue. asynq's default of 5 s made expirations
	// seconds late; a task whose expiresAt is just past a whole second
	// waits up to this long, plus pollInterval, beyond it.
	delayedTaskCheckInterval = 50 * time.Millisecond
	// pollInterval is about how often an idle worker looks for queued
	// tasks: asynq sleeps between half and one and a half of it when the
	// queue is empty. Its default of 1 s would add up to 1.5 s.
	pollInterval = 50 * time.Millisecond
	// concurrency bounds the tasks run at once. Handlers mostly sleep out
	// the sub-second remainder before their expiresAt, so this is about how
	// many orders may expire in the same second, not about CPU.
	concurrency = 100
	// shutdownTimeout is how long Shutdown lets tasks in flight finish
	// (their wait is under a second, their publish under 5 s) before asynq
	// puts them back in the queue for another worker.
	shutdownTimeout = 10 * time.Second
	// Retries of a failed publish start after retryDelay and back off to
	// maxRetryDelay. asynq keeps retry times in whole seconds too, so a
	// retry comes between no time and a second after its delay.
	retryDelay    = 200 * time.Millisecond
	maxRetryDelay = time.Second
	// A failing task is logged on its first failure and then every
	// logEveryRetries retries, about once a minute at maxRetryDelay.
	logEveryRetries = 60
)

// NewServer returns an asynq server for the tasks Scheduler stores, using
// rc, which the caller keeps and closes after Shutdown. Start it with a
// Handler.
func NewServer(rc redis.UniversalClient, log *slog.Logger) *asynq.Server {
	log = log.With("component", "asynq")
	return asynq.NewServerFromRedisClient(rc, asynq.Config{
		Concurrency:              concurrency,
		Queues:                   map[string]int{Queue: 1},
		DelayedTaskCheckInterval: delayedTaskCheckInterval,
		TaskCheckInterval:        pollInterval,
		ShutdownTimeout:          shutdownTimeout,
		RetryDelayFunc:           retryDelayFunc,
		ErrorHandler:             asynq.ErrorHandlerFunc(errorLogger(log)),
		Logger:                   newAsynqLogger(log),
		LogLevel:                 asynq.WarnLevel,
	})
}

// retryDelayFunc backs off from retryDelay to maxRetryDelay: short enough
// that an expiration is published soon after NATS Streaming is back.
func retryDelayFunc(n int, _ error, _ *asynq.Task) time.Duration {
	if n >= 8 { // the shift below would only overflow
		return maxRetryDelay
	}
	return min(retryDelay<<n, maxRetryDelay)
}

// errorLogger logs failed runs of the handler, which asynq retries, without
// a line per retry while NATS Streaming is away.
func errorLogger(log *slog.Logger) func(ctx context.Context, t *asynq.Task, err error) {
	return func(ctx context.Context, t *asynq.Task, err error) {
		retried, _ := asynq.GetRetryCount(ctx)
		if retried%logEveryRetries != 0 {
			return
		}
		id, _ := asynq.GetTaskID(ctx)
		log.WarnContext(ctx, "expiration task failed; it will be retried", "task_id", id, "type", t.Type(), "retried", retried, "err", err)
	}
}

// asynqLogger writes asynq's own lines through slog. asynq logs some
// failures, such as Redis being unreachable, at every check (20 times a
// second here), so warnings and errors are throttled.
type asynqLogger struct {
	log *logthrottle.Logger
}

func newAsynqLogger(log *slog.Logger) asynqLogger {
	return asynqLogger{log: logthrottle.New(log, time.Second, 5)}
}

// Debug implements asynq.Logger.
func (l asynqLogger) Debug(args ...any) { l.emit(slog.LevelDebug, args) }

// Info implements asynq.Logger.
func (l asynqLogger) Info(args ...any) { l.emit(slog.LevelInfo, args) }

// Warn implements asynq.Logger.
func (l asynqLogger) Warn(args ...any) { l.emit(slog.LevelWarn, args) }

// Error implements asynq.Logger.
func (l asynqLogger) Error(args ...any) { l.emit(slog.LevelError, args) }

// Fatal implements asynq.Logger. asynq does not call it; should it ever,
// the line is logged as an error rather than exiting under run's feet.
func (l asynqLogger) Fatal(args ...any) { l.emit(slog.LevelError, args) }

func (l asynqLogger) emit(level slog.Level, args []any) {
	l.log.Log(context.Background(), level, fmt.Sprint(args...))
}
