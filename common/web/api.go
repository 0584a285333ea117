package web

import (
	"log/slog"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/metrics"
)

// API is what every service's HTTP surface is built with beside its own
// parts: the logger, the requests' metrics and the readiness checks. Each
// service's httpapi.Deps embeds it.
type API struct {
	Log *slog.Logger
	// Metrics counts and times the requests; nil records nothing.
	Metrics *metrics.HTTP
	// Checks are the dependencies /readyz reports on.
	Checks map[string]Check
}

// Router returns the router every API starts from: NewRouter's middleware
// with api's logger and metrics, cross-origin writes refused
// (RefuseCrossOrigin), and the health routes on api's checks.
func (api API) Router() *chi.Mux {
	r := NewRouter(api.Log, WithMetrics(api.Metrics))
	r.Use(RefuseCrossOrigin)
	Health(r, api.Checks)
	return r
}
