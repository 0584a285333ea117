package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/requestid"
)

type ctxKey int

const loggerKey ctxKey = iota

// Logger returns the request-scoped logger that NewRouter's middleware puts
// in the context, carrying the request id.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// WithLogger returns ctx carrying l, for code that runs outside a request.
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey, l)
}

// RequestIDHeader carries the request id between gateway, services and logs.
const RequestIDHeader = requestid.Header

// RouterOption configures NewRouter.
type RouterOption func(*routerConfig)

type routerConfig struct {
	metrics *metrics.HTTP
}

// WithMetrics counts and times every request of the router in m, by route
// pattern (see metrics.HTTP). A nil m records nothing.
func WithMetrics(m *metrics.HTTP) RouterOption {
	return func(c *routerConfig) { c.metrics = m }
}

// NewRouter returns a chi router with the middleware every service uses —
// request id, access log, metrics, panic recovery — and 404s in the common
// shape. The metrics sit inside the log and outside the recovery, so that a
// panic counts as the 500 it is answered with.
func NewRouter(log *slog.Logger, opts ...RouterOption) *chi.Mux {
	var cfg routerConfig
	for _, o := range opts {
		o(&cfg)
	}
	r := chi.NewRouter()
	r.Use(requestLog(log), cfg.metrics.Middleware, recoverer)
	r.NotFound(NotFound)
	r.MethodNotAllowed(MethodNotAllowed)
	return r
}

// requestLog gives each request an id (kept from the gateway when it sent a
// sane one) in its context, and one access log line. The id reaches every
// line logged with the request's context (requestid.LogHandler, which the
// services' loggers have) and the events the request causes.
func requestLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !saneID(id) {
				id = newID()
			}
			w.Header().Set(RequestIDHeader, id)
			ctx := requestid.With(r.Context(), id)
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			start := time.Now()
			next.ServeHTTP(rec, r.WithContext(WithLogger(ctx, log)))
			log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Duration("duration", time.Since(start)))
		})
	}
}

// recoverer turns a panic in a handler into a logged 500.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				WriteError(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func saneID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
