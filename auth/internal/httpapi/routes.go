// Package httpapi is the auth service's HTTP surface: routes.go lists every
// route, handlers.go turns requests into calls on the user service, and
// models.go holds the request and response bodies.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
)

// Deps are what the API is built from.
type Deps struct {
	// Metrics counts and times the requests; nil records nothing.
	Metrics  *metrics.HTTP
	Users    *user.Service
	Sessions *session.Manager
	Log      *slog.Logger
	// RateLimit is how many sign-up and sign-in attempts, together, one
	// client address may make per minute; 0 turns limiting off.
	RateLimit int
	// TrustedProxies are the peers, such as the gateway or the ingress,
	// whose X-Forwarded-For header names the client the limit applies to.
	// Requests from any other peer are limited by the peer's address.
	TrustedProxies []netip.Prefix
	// Checks are the dependencies /readyz reports on.
	Checks map[string]web.Check
}

// Routes returns the whole HTTP surface of the auth service.
func Routes(d Deps) http.Handler {
	h := &handlers{users: d.Users, sessions: d.Sessions}
	limit := rateLimit(d.RateLimit, d.TrustedProxies)

	r := web.NewRouter(d.Log, web.WithMetrics(d.Metrics))
	web.Health(r, d.Checks)
	r.Route("/api/users", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser)
		r.With(limit).Post("/signup", web.Handle(h.signUp))
		r.With(limit).Post("/signin", web.Handle(h.signIn))
		r.Post("/signout", web.Handle(h.signOut))
		r.Get("/currentuser", web.Handle(h.currentUser))
	})
	return r
}

// rateLimit returns middleware that shares one budget of perMinute
// attempts among every route it wraps, per client address.
func rateLimit(perMinute int, trusted []netip.Prefix) func(http.Handler) http.Handler {
	if perMinute <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return newLimiter(perMinute, trusted, time.Now).middleware
}
