// Package logthrottle bounds how often chatty libraries may log. asynq and
// go-redis log a failure at every attempt, which while Redis is away is
// many lines a second for one fact.
package logthrottle

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Logger writes lines to a slog.Logger, letting through a burst of
// warnings and errors and then one per interval. The number of lines
// dropped is reported with the next line that passes.
type Logger struct {
	log     *slog.Logger
	limit   *rate.Limiter
	dropped atomic.Int64
}

// New returns a Logger writing to log at most burst warnings and errors at
// once, and then one every interval.
func New(log *slog.Logger, interval time.Duration, burst int) *Logger {
	return &Logger{log: log, limit: rate.NewLimiter(rate.Every(interval), burst)}
}

// Log writes msg at level unless it is a warning or error over the limit.
func (l *Logger) Log(ctx context.Context, level slog.Level, msg string) {
	if level >= slog.LevelWarn && !l.limit.Allow() {
		l.dropped.Add(1)
		return
	}
	if n := l.dropped.Swap(0); n > 0 {
		l.log.LogAttrs(ctx, level, msg, slog.Int64("dropped_before", n))
		return
	}
	l.log.LogAttrs(ctx, level, msg)
}
