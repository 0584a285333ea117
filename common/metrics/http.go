package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// Unmatched is the route label of a request no route took: counted by its
// own label, not by its path, so that scanners probing paths cannot add a
// series per path.
const Unmatched = "unmatched"

// HTTP counts and times the requests of one service's router.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTP registers the request metrics on reg:
// ticketing_http_requests_total{route,method,code} and
// ticketing_http_request_duration_seconds{route,method}. A nil reg
// registers nothing and returns a nil *HTTP, which records nothing.
func NewHTTP(reg prometheus.Registerer) (*HTTP, error) {
	if reg == nil {
		return nil, nil
	}
	r := registrar{reg: reg}
	m := &HTTP{
		requests: r.counter(HTTPRequests, "HTTP requests answered, by chi route pattern, method and status code.", "route", "method", "code"),
		duration: r.histogram(HTTPRequestDuration, "Time to answer an HTTP request, by chi route pattern and method.", "route", "method"),
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// Middleware counts and times each request by the chi route pattern it is
// for, such as /api/tickets/{id}, never by its path. It must run on the
// root chi router itself (Use), where the route context is. A nil *HTTP
// returns next unchanged.
func (m *HTTP) Middleware(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		code := ww.Status()
		if code == 0 {
			code = http.StatusOK // nothing written: net/http answers 200
		}
		route, method := routeOf(r, code), methodOf(r.Method)
		m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// routeOf returns the pattern of the route r is for, such as
// /api/tickets/{id}, or Unmatched, once r has been answered with code. It
// asks the router again rather than reading what routing left in the
// context: a mounted router that finds no route leaves its mount's pattern
// there, just as a route of it does, and so does a request answered by a
// mounted router's middleware (a 401) before it was routed.
func routeOf(r *http.Request, code int) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || rctx.Routes == nil {
		return Unmatched
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if path == "" {
		path = "/"
	}
	pattern := rctx.Routes.Find(chi.NewRouteContext(), r.Method, path)
	if pattern != "" && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		// Only a miss can be the one case Find gets wrong.
		pattern = mountRoot(rctx.Routes, r.Method, pattern)
	}
	if pattern == "" {
		return Unmatched
	}
	// Written as chi.Context.RoutePattern writes it: a mounted router's
	// routes without the mount's /* and without a trailing slash.
	for strings.Contains(pattern, "/*/") {
		pattern = strings.ReplaceAll(pattern, "/*/", "/")
	}
	if pattern != "/" {
		pattern = strings.TrimSuffix(strings.TrimSuffix(pattern, "//"), "/")
	}
	return pattern
}

// mountRoot corrects pattern, what routes.Find found for method: chi's
// Find answers the path of a mount itself (/api/tickets, /api/tickets/)
// with the mount's pattern, for any method, without asking the mounted
// router, which routes it as "/". This asks it, for mounts on routes; one
// mounted deeper stays as Find answers.
func mountRoot(routes chi.Routes, method, pattern string) string {
	for _, rt := range routes.Routes() {
		prefix, ok := strings.CutSuffix(rt.Pattern, "/*")
		if !ok || rt.SubRoutes == nil || (pattern != prefix && pattern != prefix+"/") {
			continue
		}
		sub := rt.SubRoutes.Find(chi.NewRouteContext(), method, "/")
		if sub == "" {
			return ""
		}
		return prefix + sub
	}
	return pattern
}

// methodOf returns method if it is a standard one and OTHER if not, since
// a client may send any token as its method.
func methodOf(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}
