package web

import (
	"net/http"

	"ticketing.dev/common/errs"
)

// ErrCrossOrigin is the answer to an unsafe request that a browser sent
// from another origin's page.
var ErrCrossOrigin = errs.New(errs.Forbidden, "Cross-origin request refused")

// RefuseCrossOrigin is the middleware of every API router that keeps other
// sites' pages from acting with a visitor's session cookie: an unsafe
// request (POST, PUT, DELETE...) that the browser marks as sent from
// another origin (Sec-Fetch-Site, or else an Origin that is not the
// request's Host) is refused with a 403 in the common shape before any
// handler runs. GET, HEAD and OPTIONS pass, and so do requests without
// those headers, which browsers always send: curl, tests, and the client
// service calling the API from its server. It is net/http's
// CrossOriginProtection with a JSON answer; SameSite=Lax already keeps the
// cookie off most cross-site posts, and this covers what it does not, such
// as forcing a sign-in into an attacker's account.
func RefuseCrossOrigin(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, ErrCrossOrigin)
	}))
	return p.Handler(next)
}
