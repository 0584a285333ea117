package web

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// Check reports whether one dependency is reachable.
type Check func(ctx context.Context) error

// Health mounts GET /healthz, which answers while the process serves, and
// GET /readyz, which answers 200 only when every check passes.
func Health(r chi.Router, checks map[string]Check) {
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_ = Respond(w, r, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, report := http.StatusOK, make(map[string]string, len(checks))
		for name, check := range checks {
			if err := check(ctx); err != nil {
				status = http.StatusServiceUnavailable
				report[name] = "unavailable"
				Logger(ctx).WarnContext(ctx, "not ready", "dependency", name, "err", err)
				continue
			}
			report[name] = "ok"
		}
		_ = Respond(w, r, status, report)
	})
}
