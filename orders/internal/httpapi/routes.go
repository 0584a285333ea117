// Package httpapi is the orders service's HTTP surface: routes.go lists
// every route, handlers.go turns requests into calls on the order service,
// and models.go holds the request and response bodies.
package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/orders/internal/order"
)

// Deps are what the API is built from.
type Deps struct {
	web.API
	Orders   *order.Service
	Sessions *session.Manager
}

// Routes returns the whole HTTP surface of the orders service. Every order
// route needs a signed-in user.
func Routes(d Deps) http.Handler {
	h := &handlers{orders: d.Orders}

	r := d.API.Router()
	r.Route("/api/orders", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser, session.RequireAuth)
		r.Post("/", web.Handle(h.create))
		r.Get("/", web.Handle(h.list))
		r.Get("/{id}", web.Handle(h.show))
		r.Delete("/{id}", web.Handle(h.cancel))
	})
	return r
}
