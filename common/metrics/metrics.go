// Package metrics defines every Prometheus metric the services export, so
// that their names, labels and buckets are written once, and the Grafana
// dashboard (infra/grafana) and the benchmark can rely on them.
//
// Each service makes its own registry with NewRegistry in run and hands it
// to what it instruments: the router (NewHTTP), MongoDB (NewMongo, through
// mongodb.WithMetrics), the bus (NewBus, through bus.Config), the outbox
// relay (Outbox), and the instruments that only one service has. Nothing is
// registered on prometheus.DefaultRegisterer: a test that starts two
// services in one process sees each one's metrics on its own DEBUG_ADDR.
//
// Every instrument is safe to use as a nil pointer, which records nothing:
// code under test that was given no registry works as before.
package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The names of every metric the services register, beside the Go runtime's
// and the process's. The dashboard's test checks its queries against Names.
const (
	HTTPRequests        = "ticketing_http_requests_total"
	HTTPRequestDuration = "ticketing_http_request_duration_seconds"

	MongoCommands        = "ticketing_mongodb_commands_total"
	MongoCommandDuration = "ticketing_mongodb_command_duration_seconds"

	BusPublished       = "ticketing_bus_published_total"
	BusPublishFailures = "ticketing_bus_publish_failures_total"
	BusHandled         = "ticketing_bus_handled_total"
	BusRedelivered     = "ticketing_bus_redelivered_total"
	BusDeadLettered    = "ticketing_bus_dead_lettered_total"
	BusHandlerDuration = "ticketing_bus_handler_duration_seconds"

	OutboxPending          = "ticketing_outbox_pending"
	OutboxOldestPendingAge = "ticketing_outbox_oldest_pending_age_seconds"

	ExpirationLateness = "ticketing_expiration_lateness_seconds"

	StripeRequests        = "ticketing_stripe_requests_total"
	StripeRequestDuration = "ticketing_stripe_request_duration_seconds"

	ScryptGateWaiting = "ticketing_scrypt_gate_waiting"
	ScryptGateRunning = "ticketing_scrypt_gate_running"

	OrdersSwept        = "ticketing_orders_swept_total"
	PaymentRefunds     = "ticketing_payments_refunds_total"
	PaymentsReconciled = "ticketing_payments_reconciled_total"
)

// Names lists every name above.
func Names() []string {
	return []string{
		HTTPRequests, HTTPRequestDuration,
		MongoCommands, MongoCommandDuration,
		BusPublished, BusPublishFailures, BusHandled, BusRedelivered, BusDeadLettered, BusHandlerDuration,
		OutboxPending, OutboxOldestPendingAge,
		ExpirationLateness,
		StripeRequests, StripeRequestDuration,
		ScryptGateWaiting, ScryptGateRunning,
		OrdersSwept, PaymentRefunds, PaymentsReconciled,
	}
}

// latencyBuckets returns the buckets, in seconds, of every duration
// measured here but the expiration's lateness: from a millisecond, where a
// MongoDB command or a small request lands, to the 20 s a Stripe request
// may take.
func latencyBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 25}
}

// NewRegistry returns the registry of one service, holding the Go runtime's
// and the process's collectors; web.Debug serves it on /metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	// Two collectors of distinct metrics on an empty registry cannot
	// collide, so MustRegister cannot panic here.
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// registrar registers collectors on reg until one fails, and keeps that
// error, so that a constructor reads as the list of what it registers.
type registrar struct {
	reg prometheus.Registerer
	err error
}

// counter registers a counter vector.
func (r *registrar) counter(name, help string, labels ...string) *prometheus.CounterVec {
	return add(r, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

// histogram registers a histogram vector of latencyBuckets.
func (r *registrar) histogram(name, help string, labels ...string) *prometheus.HistogramVec {
	return add(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets()}, labels))
}

// add registers c on r's registry, or returns the collector registered
// already under the same description: two routers of one service, or two
// connections to its database, share their counters rather than failing.
// After a failure it registers nothing and returns the zero C.
func add[C prometheus.Collector](r *registrar, c C) C {
	var zero C
	if r.err != nil {
		return zero
	}
	err := r.reg.Register(c)
	if err == nil {
		return c
	}
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(C); ok {
			return existing
		}
	}
	r.err = fmt.Errorf("metrics: register: %w", err)
	return zero
}
