// Package httpapi is the auth service's HTTP surface: routes.go lists every
// route, handlers.go turns requests into calls on the user service, and
// models.go holds the request and response bodies.
package httpapi

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/auth/internal/user"
	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
)

// Deps are what the API is built from.
type Deps struct {
	web.API
	Users    *user.Service
	Sessions *session.Manager
	// RateLimit is how many sign-up and sign-in attempts, together, one
	// client address may make per minute; 0 turns limiting off.
	RateLimit int
	// TrustedProxies are the peers, such as the gateway, the ingress or
	// the web client, whose X-Forwarded-For header names the client the
	// limit applies to. Requests from any other peer are limited by the
	// peer's address.
	TrustedProxies []netip.Prefix
	// SignInFailures is how many failed sign-ins one account (one email,
	// known or not) may have per SignInFailureWindow, from any address; 0
	// turns that limit off. A successful sign-in clears the account's
	// count.
	SignInFailures      int
	SignInFailureWindow time.Duration
	// Now tells the time to the limiters; time.Now when nil.
	Now func() time.Time
}

// Routes returns the whole HTTP surface of the auth service.
func Routes(d Deps) http.Handler {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	h := &handlers{users: d.Users, sessions: d.Sessions}
	if d.SignInFailures > 0 && d.SignInFailureWindow > 0 {
		h.accounts = newLimiter(d.SignInFailures, d.SignInFailureWindow, now)
	}
	// One budget of RateLimit attempts a minute per client address, shared
	// by sign-up and sign-in.
	var addresses *limiter
	if d.RateLimit > 0 {
		addresses = newLimiter(d.RateLimit, time.Minute, now)
	}
	limit := addresses.perAddress(d.TrustedProxies)

	r := d.API.Router()
	r.Route("/api/users", func(r chi.Router) {
		r.Use(d.Sessions.CurrentUser)
		r.With(limit).Post("/signup", web.Handle(h.signUp))
		r.With(limit).Post("/signin", web.Handle(h.signIn))
		r.Post("/signout", web.Handle(h.signOut))
		r.Get("/currentuser", web.Handle(h.currentUser))
	})
	return r
}
