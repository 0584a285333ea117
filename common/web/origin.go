package web

import (
	"net/http"

	"ticketing.dev/common/errs"
)

// ErrCrossOrigin is the answer to an unsafe request that a browser sent
// from another origin's page.
var ErrCrossOrigin = errs.New(errs.Forbidden, "Cross-origin request refused")

// RefuseCrossOrigin is the middleware of every API router that keeps other
// sites' pages from acting with a visitor's session cookie, in two checks,
// before any handler runs:
//
//   - first the body: an unsafe request (POST, PUT, DELETE...) with a body
//     in another format than application/json, or with no Content-Type, is
//     a 415 (ErrNotJSON) from any origin. That is all an HTML form of
//     another site can send (text/plain, form-encoded, multipart), so such
//     a form gets the same 415 as curl would.
//   - then the origin: an unsafe request that the browser marks as sent
//     from another origin (Sec-Fetch-Site, or else an Origin that is not
//     the request's Host) is a 403 (ErrCrossOrigin): a JSON body sent by
//     another site's script, or a request without a body.
//
// GET, HEAD and OPTIONS pass both, and so do requests without those
// headers, which browsers always send: curl, tests, and the client service
// calling the API from its server. The second check is net/http's
// CrossOriginProtection with a JSON answer; SameSite=Lax already keeps the
// cookie off most cross-site posts, and this covers what it does not, such
// as forcing a sign-in into an attacker's account.
func RefuseCrossOrigin(next http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, ErrCrossOrigin)
	}))
	return refuseNonJSON(p.Handler(next))
}
