package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// debugShutdownTimeout bounds the wait for a scrape or a profile being
// written at shutdown; a CPU profile in progress is cut short rather than
// awaited.
const debugShutdownTimeout = time.Second

// Debug serves the metrics of reg, in Prometheus's format, on /metrics, on
// addr (a service's DEBUG_ADDR), on a server and mux of their own, never on
// the service's router, until stop is called. It serves no profiles: who
// may scrape metrics may not thereby read the process's memory, command
// line or CPU time (see Pprof). An empty addr serves nothing, and stop does
// nothing; a nil reg serves no /metrics.
//
// Read them with, for example, curl http://127.0.0.1:6060/metrics.
func Debug(addr string, reg prometheus.Gatherer, log *slog.Logger) (stop func() error, err error) {
	mux := http.NewServeMux()
	if reg != nil {
		// A collector that fails costs its own metrics, not the scrape.
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		}))
	}
	return serveDebug("debug server", "serving metrics", addr, mux, log)
}

// Pprof serves net/http/pprof's profiles under /debug/pprof/ on addr (a
// service's PPROF_ADDR), on a server and mux of their own, never on the
// service's router nor on the metrics listener, until stop is called.
// Profiles show the heap, the goroutines' stacks and the command line, and
// cost CPU while they are taken: they are for an operator's port-forward
// or the local stack, off unless asked for. Importing net/http/pprof also
// registers the profiles on http.DefaultServeMux, which no service serves.
// An empty addr serves nothing, and stop does nothing.
//
// Fetch them with, for example,
// go tool pprof http://127.0.0.1:6061/debug/pprof/profile?seconds=10.
func Pprof(addr string, log *slog.Logger) (stop func() error, err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return serveDebug("pprof server", "serving profiles", addr, mux, log)
}

// serveDebug serves mux on addr until stop is called; an empty addr serves
// nothing. name prefixes its errors; msg is logged with the address.
func serveDebug(name, msg, addr string, mux *http.ServeMux, log *slog.Logger) (stop func() error, err error) {
	if addr == "" {
		return func() error { return nil }, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen: %w", name, err)
	}
	// No write timeout: a CPU profile or a trace takes as long as asked.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info(msg, "addr", ln.Addr().String())
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), debugShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			// A profile still being written is no reason to fail shutdown.
			_ = srv.Close()
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}, nil
}
