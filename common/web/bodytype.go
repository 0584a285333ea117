package web

import (
	"io"
	"net/http"
)

// refuseNonJSON is the first check of RefuseCrossOrigin: an unsafe request
// (POST, PUT, DELETE...) that carries a body in any other format than
// application/json, or with no Content-Type, is refused with ErrNotJSON
// (415) before any handler runs, whatever its origin. GET, HEAD and OPTIONS
// pass untouched, and so does an unsafe request without a body, such as a
// sign-out or a DELETE. Decode checks the type again, for handlers mounted
// without this guard.
func refuseNonJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) || isJSON(r) || !hasBody(r) {
			next.ServeHTTP(w, r)
			return
		}
		WriteError(w, r, ErrNotJSON)
	})
}

// safeMethod reports the methods that CrossOriginProtection lets through,
// which change nothing.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// hasBody reports whether r carries a body. A length known up front says
// so unread; a body of unknown length (chunked) is tried for one byte,
// which is lost only when the request is refused anyway.
func hasBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return false
	}
	if r.ContentLength > 0 {
		return true
	}
	var b [1]byte
	n, _ := io.ReadFull(r.Body, b[:])
	return n > 0
}
