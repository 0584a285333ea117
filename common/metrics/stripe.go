package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stripe counts and times the requests a service makes to Stripe.
type Stripe struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewStripe registers the Stripe metrics on reg:
// ticketing_stripe_requests_total{operation,outcome} and
// ticketing_stripe_request_duration_seconds{operation}. A nil reg
// registers nothing and returns a nil *Stripe, which records nothing.
func NewStripe(reg prometheus.Registerer) (*Stripe, error) {
	if reg == nil {
		return nil, nil
	}
	r := registrar{reg: reg}
	s := &Stripe{
		requests: r.counter(StripeRequests, "Requests to Stripe, by operation (such as charge) and outcome.", "operation", "outcome"),
		duration: r.histogram(StripeRequestDuration, "Time to a request's answer from Stripe, or to its failure, by operation.", "operation"),
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// Request records a request of operation that took d and ended in outcome.
func (s *Stripe) Request(operation, outcome string, d time.Duration) {
	if s == nil {
		return
	}
	s.requests.WithLabelValues(operation, outcome).Inc()
	s.duration.WithLabelValues(operation).Observe(d.Seconds())
}
