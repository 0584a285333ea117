// Package gateway is the local stand-in for the Kubernetes ingress: one
// reverse proxy that routes by the table in package routes.
package gateway

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/web"
	"ticketing.dev/infra/routes"
)

// New returns a handler that proxies each request to the service that
// routes.Match names, at the address in upstreams (host:port by service).
// A service that does not answer is a 502 in the common error shape.
func New(upstreams map[string]string, log *slog.Logger) http.Handler {
	proxies := make(map[string]*httputil.ReverseProxy, len(upstreams))
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	for name, addr := range upstreams {
		target := &url.URL{Scheme: "http", Host: addr}
		proxies[name] = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.Host = r.In.Host
				// Append to the chain rather than replace it, as ingress-nginx
				// does: services walk it from the right and believe only the
				// hops they trust (TRUSTED_PROXIES), so a forged entry on the
				// left gains a client nothing, while the client's server-side
				// calls keep the browser's address.
				r.Out.Header["X-Forwarded-For"] = r.In.Header["X-Forwarded-For"]
				r.SetXForwarded()
			},
			Transport: transport,
			// The gateway's middleware already set the id the service echoes.
			ModifyResponse: func(resp *http.Response) error {
				resp.Header.Del(web.RequestIDHeader)
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				web.Logger(r.Context()).WarnContext(r.Context(), "upstream failed", "service", name, "err", err)
				web.WriteError(w, r, errBadGateway)
			},
		}
	}
	r := web.NewRouter(log)
	r.HandleFunc("/*", func(w http.ResponseWriter, r *http.Request) {
		name, _ := routes.Match(r.URL.Path)
		p, ok := proxies[name]
		if !ok {
			web.NotFound(w, r)
			return
		}
		r.Header.Set(web.RequestIDHeader, w.Header().Get(web.RequestIDHeader))
		p.ServeHTTP(w, r)
	})
	return r
}

var errBadGateway = errs.New(errs.Unavailable, "Service unavailable")
