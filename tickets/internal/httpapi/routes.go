// Package httpapi is the tickets service's HTTP surface: routes.go lists
// every route, handlers.go turns requests into calls on the ticket service,
// and models.go holds the request and response bodies.
package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/tickets/internal/ticket"
)

// Deps are what the API is built from.
type Deps struct {
	web.API
	Tickets  *ticket.Service
	Sessions *session.Manager
}

// Routes returns the whole HTTP surface of the tickets service.
func Routes(d Deps) http.Handler {
	h := &handlers{tickets: d.Tickets}

	r := d.API.Router()
	r.Route("/api/tickets", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser)
		r.Get("/", web.Handle(h.list))
		r.With(session.RequireAuth).Post("/", web.Handle(h.create))
		r.Get("/{id}", web.Handle(h.show))
		r.With(session.RequireAuth).Put("/{id}", web.Handle(h.update))
	})
	return r
}
