// Package web is the HTTP plumbing every service shares: handlers that
// return errors, one place that turns those errors into responses, JSON
// decoding that refuses hostile bodies and bodies that are not
// application/json, the middleware of every router (request log, metrics,
// panic recovery) and of every API router (RefuseCrossOrigin), the debug
// listener that serves Prometheus metrics (DEBUG_ADDR), and the one that
// serves profiles (PPROF_ADDR).
package web

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"ticketing.dev/common/errs"
)

// HandlerFunc is an HTTP handler that reports failure by returning an error
// instead of writing it.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts h to http.Handler: a returned error is written in the common
// shape with the status errs.Response gives it. Server faults are logged
// with the request's logger; their details never reach the client.
func Handle(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, err)
		}
	}
}

// WriteError writes err in the common error shape.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errs.Response(err)
	if status >= http.StatusInternalServerError {
		Logger(r.Context()).ErrorContext(r.Context(), "request failed", "err", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, r, status, body)
}

// Respond writes v as JSON with the given status.
func Respond(w http.ResponseWriter, r *http.Request, status int, v any) error {
	writeJSON(w, r, status, v)
	return nil
}

// NoContent writes an empty response with the given status.
func NoContent(w http.ResponseWriter, status int) error {
	w.WriteHeader(status)
	return nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Logger(r.Context()).ErrorContext(r.Context(), "encode response", "err", err)
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errs.Body{Errors: []errs.Detail{{Message: errs.InternalMessage}}})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// ErrNotFound is the answer to a route that does not exist.
var ErrNotFound = errs.New(errs.NotFound, "Not Found")

// NotFound answers 404 in the common shape; routers use it for unknown routes.
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, ErrNotFound)
}

// MethodNotAllowed answers 404 too: as in the original, a route that exists
// for another method does not exist for this one.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	WriteError(w, r, ErrNotFound)
}

// Nop discards a log; useful as the logger of tests that do not read logs.
var Nop = slog.New(slog.DiscardHandler)
