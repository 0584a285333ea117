package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Expiration measures how punctually orders expire.
type Expiration struct {
	lateness prometheus.Histogram
}

// NewExpiration registers ticketing_expiration_lateness_seconds on reg. A
// nil reg registers nothing and returns a nil *Expiration, which records
// nothing.
func NewExpiration(reg prometheus.Registerer) (*Expiration, error) {
	if reg == nil {
		return nil, nil
	}
	r := registrar{reg: reg}
	e := &Expiration{lateness: add(&r, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: ExpirationLateness,
		Help: "Time from an order's expiresAt to the publish of its expiration:complete.",
		// The target is a p99 of 250 ms; a lost worker's rescue takes
		// seconds, asynq's own recovery a minute or more.
		Buckets: []float64{.005, .01, .025, .05, .1, .15, .2, .25, .3, .5, .75, 1, 2.5, 5, 10, 30, 60, 120},
	}))}
	if r.err != nil {
		return nil, r.err
	}
	return e, nil
}

// Published records an expiration:complete published late after its
// order's expiresAt.
func (e *Expiration) Published(late time.Duration) {
	if e == nil {
		return
	}
	e.lateness.Observe(max(late, 0).Seconds())
}
