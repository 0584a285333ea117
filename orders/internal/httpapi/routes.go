// Package httpapi is the orders service's HTTP surface: routes.go lists
// every route, handlers.go turns requests into calls on the order service,
// and models.go holds the request and response bodies.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/orders/internal/order"
)

// Deps are what the API is built from.
type Deps struct {
	// Metrics counts and times the requests; nil records nothing.
	Metrics  *metrics.HTTP
	Orders   *order.Service
	Sessions *session.Manager
	Log      *slog.Logger
	// Checks are the dependencies /readyz reports on.
	Checks map[string]web.Check
}

// Routes returns the whole HTTP surface of the orders service. Every order
// route needs a signed-in user.
func Routes(d Deps) http.Handler {
	h := &handlers{orders: d.Orders}

	r := web.NewRouter(d.Log, web.WithMetrics(d.Metrics))
	r.Use(web.RefuseCrossOrigin)
	web.Health(r, d.Checks)
	r.Route("/api/orders", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser, session.RequireAuth)
		r.Post("/", web.Handle(h.create))
		r.Get("/", web.Handle(h.list))
		r.Get("/{id}", web.Handle(h.show))
		r.Delete("/{id}", web.Handle(h.cancel))
	})
	return r
}
