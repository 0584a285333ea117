// Package httpapi is the tickets service's HTTP surface: routes.go lists
// every route, handlers.go turns requests into calls on the ticket service,
// and models.go holds the request and response bodies.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/tickets/internal/ticket"
)

// Deps are what the API is built from.
type Deps struct {
	// Metrics counts and times the requests; nil records nothing.
	Metrics  *metrics.HTTP
	Tickets  *ticket.Service
	Sessions *session.Manager
	Log      *slog.Logger
	// Checks are the dependencies /readyz reports on.
	Checks map[string]web.Check
}

// Routes returns the whole HTTP surface of the tickets service.
func Routes(d Deps) http.Handler {
	h := &handlers{tickets: d.Tickets}

	r := web.NewRouter(d.Log, web.WithMetrics(d.Metrics))
	r.Use(web.RefuseCrossOrigin)
	web.Health(r, d.Checks)
	r.Route("/api/tickets", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser)
		r.Get("/", web.Handle(h.list))
		r.With(session.RequireAuth).Post("/", web.Handle(h.create))
		r.Get("/{id}", web.Handle(h.show))
		r.With(session.RequireAuth).Put("/{id}", web.Handle(h.update))
	})
	return r
}
