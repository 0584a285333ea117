// Package requestid carries the id of the request that caused some work
// through a context: from the HTTP request (package web) into the events
// the work stores (package outbox), across the bus on the transports that
// have headers (package bus), and into the contexts and log lines of the
// listeners that handle them, and so on to the events they cause in turn.
package requestid

import "context"

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
