// Package requestid carries the id of the request that caused some work
// through a context: from the HTTP request (package web) into the events
// the work stores (package outbox), across the bus on the transports that
// have headers (package bus), and into the contexts and log lines of the
// listeners that handle them, and so on to the events they cause in turn.
package requestid

import (
	"context"
	"log/slog"
)

// Header is the HTTP header, and the JetStream message header, that
// carries a request id.
const Header = "X-Request-Id"

type key struct{}

// With returns ctx carrying id; an empty id leaves ctx as it is.
func With(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, key{}, id)
}

// From returns the request id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// LogHandler returns a handler that adds the request id of the context a
// line is logged with, if any, to the line as request_id, then hands it to
// next: every line logged with a request's context, or an event's, names
// the request (log with the *Context methods).
func LogHandler(next slog.Handler) slog.Handler { return logHandler{next} }

type logHandler struct{ next slog.Handler }

func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.next.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler { return logHandler{h.next.WithAttrs(as)} }

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.next.WithGroup(name)} }
