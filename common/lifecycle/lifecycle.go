// Package lifecycle holds the start-up and shutdown steps that every
// service's run function shares, so that each main.go reads as its own
// wiring: what it connects to, what runs in the background, what it serves.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"ticketing.dev/common/requestid"
)

// Run is a service's run function: it serves until ctx is done, reading
// its configuration through getenv and logging to stdout.
type Run func(ctx context.Context, getenv func(string) string, stdout io.Writer) error

// Main is a service's main: it calls run with the process's environment
// and stdout until SIGINT or SIGTERM, and when run fails it prints the
// error on stderr after name and exits with status 1.
func Main(name string, run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Logger returns the JSON logger a service writes to stdout, every line
// naming the service, and the request (request_id) when logged with the
// context of a request or of an event it caused (package requestid).
func Logger(w io.Writer, level slog.Level, name string) *slog.Logger {
	return slog.New(requestid.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))).With("service", name)
}

// Close calls closer and joins its error into *err; it is meant for defer,
// so that shutdown runs in the reverse order of start and no error is lost.
func Close(err *error, closer func() error) {
	if cerr := closer(); cerr != nil {
		*err = errors.Join(*err, cerr)
	}
}

// Background is a function running in its own goroutine until stopped,
// such as an outbox relay.
type Background struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Go runs fn in the background. fn's context carries ctx's values but not
// its cancellation: the background work outlives the requests being
// finished at shutdown, and ends only when Stop is called.
func Go(ctx context.Context, fn func(context.Context) error) *Background {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := &Background{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = fn(ctx)
	}()
	return b
}

// Done is closed when fn has returned.
func (b *Background) Done() <-chan struct{} { return b.done }

// Stop cancels fn's context, waits for fn and returns its error.
func (b *Background) Stop() error {
	b.cancel()
	<-b.done
	return b.err
}

// Until returns a context that is done when ctx is, or when any of stops
// is closed: a service stops serving when it can no longer hear or publish
// events, to be restarted rather than stay up half alive.
func Until(ctx context.Context, stops ...<-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	for _, stop := range stops {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// Retry calls fn until it succeeds or ctx is done, backing off from 100 ms
// to 5 s, so that a service started before its database (as Kubernetes
// starts them) waits for it rather than exiting into a crash loop.
func Retry(ctx context.Context, log *slog.Logger, what string, fn func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		log.Warn(what+" failed, retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, errors.Join(ctx.Err(), err))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
