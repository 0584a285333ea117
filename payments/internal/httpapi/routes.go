// Package httpapi is the payments service's HTTP surface: routes.go lists
// every route, handlers.go turns requests into calls on the payment
// service, and models.go holds the request and response bodies.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/metrics"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/payments/internal/payment"
)

// Deps are what the API is built from.
type Deps struct {
	// Metrics counts and times the requests; nil records nothing.
	Metrics  *metrics.HTTP
	Payments *payment.Service
	Sessions *session.Manager
	Log      *slog.Logger
	// Checks are the dependencies /readyz reports on.
	Checks map[string]web.Check
}

// Routes returns the whole HTTP surface of the payments service. Paying and
// seeing a payment need a signed-in user.
func Routes(d Deps) http.Handler {
	h := &handlers{payments: d.Payments}

	r := web.NewRouter(d.Log, web.WithMetrics(d.Metrics))
	r.Use(web.RefuseCrossOrigin)
	web.Health(r, d.Checks)
	r.Route("/api/payments", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser, session.RequireAuth)
		r.Post("/", web.Handle(h.create))
		r.Get("/{orderId}", web.Handle(h.show))
	})
	return r
}
