package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts bound how long one connection may take over each part of an
// exchange, so that a slow or stalled client cannot hold a connection, and
// how long shutdown waits for requests in flight.
type Timeouts struct {
	// ReadHeader bounds reading a request's headers: a client trickling
	// them (slowloris) is cut off.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included.
	Read time.Duration
	// Write bounds the time from the end of the request's headers to the
	// end of the response.
	Write time.Duration
	// Idle bounds the wait for the next request on a kept-alive connection.
	Idle time.Duration
	// Shutdown bounds the wait for requests in flight once ctx is done.
	Shutdown time.Duration
}

// DefaultTimeouts are those of every service. Write is above the longest a
// handler waits for a dependency (payments' 20 s for Stripe), so that a
// client hears how its request went.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		ReadHeader: 5 * time.Second,
		Read:       15 * time.Second,
		Write:      30 * time.Second,
		Idle:       2 * time.Minute,
		Shutdown:   20 * time.Second,
	}
}

// ServeOption configures Serve.
type ServeOption func(*Timeouts)

// WithTimeouts replaces DefaultTimeouts; tests use it to shorten them.
func WithTimeouts(t Timeouts) ServeOption {
	return func(dst *Timeouts) { *dst = t }
}

// Serve serves h on ln until ctx is done, then stops taking connections and
// waits up to the shutdown timeout (20 s by default) for requests in
// flight. It returns nil after a clean shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, opts ...ServeOption) error {
	to := DefaultTimeouts()
	for _, o := range opts {
		o(&to)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: to.ReadHeader,
		ReadTimeout:       to.Read,
		WriteTimeout:      to.Write,
		IdleTimeout:       to.Idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), to.Shutdown)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
