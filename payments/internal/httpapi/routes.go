// Package httpapi is the payments service's HTTP surface: routes.go lists
// every route, handlers.go turns requests into calls on the payment
// service, and models.go holds the request and response bodies.
package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/payments/internal/payment"
)

// Deps are what the API is built from.
type Deps struct {
	web.API
	Payments *payment.Service
	Sessions *session.Manager
}

// Routes returns the whole HTTP surface of the payments service. Paying and
// seeing a payment need a signed-in user.
func Routes(d Deps) http.Handler {
	h := &handlers{payments: d.Payments}

	r := d.API.Router()
	r.Route("/api/payments", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser, session.RequireAuth)
		r.Post("/", web.Handle(h.create))
		r.Get("/{orderId}", web.Handle(h.show))
	})
	return r
}
