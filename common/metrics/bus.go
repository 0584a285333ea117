package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The outcomes of a delivered event, the outcome label of
// ticketing_bus_handled_total.
const (
	// OutcomeAcked is an event its handler applied; it was acknowledged.
	OutcomeAcked = "acked"
	// OutcomeFailed is an event its handler returned an error for, or
	// panicked over; it is left unacknowledged, to be delivered again,
	// unless it is given up on as a dead letter.
	OutcomeFailed = "failed"
	// OutcomeUndecodable is a payload that did not decode; it was logged
	// and acknowledged, or given up on as a dead letter by a service that
	// keeps them.
	OutcomeUndecodable = "undecodable"
)

// Bus counts the events a service publishes and handles, by subject.
type Bus struct {
	published   *prometheus.CounterVec
	failures    *prometheus.CounterVec
	handled     *prometheus.CounterVec
	redelivered *prometheus.CounterVec
	dead        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// NewBus registers the bus metrics on reg, all labelled by subject:
// ticketing_bus_published_total, ticketing_bus_publish_failures_total,
// ticketing_bus_handled_total (also by outcome),
// ticketing_bus_redelivered_total,
// ticketing_bus_dead_lettered_total (also by queue group) and
// ticketing_bus_handler_duration_seconds. A nil reg registers nothing and
// returns a nil *Bus, which records nothing.
func NewBus(reg prometheus.Registerer) (*Bus, error) {
	if reg == nil {
		return nil, nil
	}
	r := registrar{reg: reg}
	b := &Bus{
		published:   r.counter(BusPublished, "Events the server stored, by subject.", "subject"),
		failures:    r.counter(BusPublishFailures, "Publishes that failed (the outbox tries again), by subject.", "subject"),
		handled:     r.counter(BusHandled, "Events delivered to this service, by subject and outcome: acked, failed (to be redelivered, or given up on as a dead letter) or undecodable.", "subject", "outcome"),
		redelivered: r.counter(BusRedelivered, "Deliveries of events delivered before, by subject.", "subject"),
		dead:        r.counter(BusDeadLettered, "Events given up on: stored as dead letters and acknowledged, by subject and queue group.", "subject", "group"),
		duration:    r.histogram(BusHandlerDuration, "Time a handler took over an event, acked or failed, by subject.", "subject"),
	}
	if r.err != nil {
		return nil, r.err
	}
	return b, nil
}

// Published counts a publish on subject that the server stored (err nil)
// or that failed.
func (b *Bus) Published(subject string, err error) {
	if b == nil {
		return
	}
	if err != nil {
		b.failures.WithLabelValues(subject).Inc()
		return
	}
	b.published.WithLabelValues(subject).Inc()
}

// Delivered counts a delivery on subject that the server had made before.
func (b *Bus) Delivered(subject string, redelivered bool) {
	if b == nil || !redelivered {
		return
	}
	b.redelivered.WithLabelValues(subject).Inc()
}

// Handled counts an event on subject that its handler took d over and
// returned err for, and times the handler.
func (b *Bus) Handled(subject string, d time.Duration, err error) {
	if b == nil {
		return
	}
	outcome := OutcomeAcked
	if err != nil {
		outcome = OutcomeFailed
	}
	b.handled.WithLabelValues(subject, outcome).Inc()
	b.duration.WithLabelValues(subject).Observe(d.Seconds())
}

// Undecodable counts an event on subject whose payload did not decode.
func (b *Bus) Undecodable(subject string) {
	if b == nil {
		return
	}
	b.handled.WithLabelValues(subject, OutcomeUndecodable).Inc()
}

// DeadLettered counts an event on subject that queue group group gave up
// on: it was stored as a dead letter and acknowledged.
func (b *Bus) DeadLettered(subject, group string) {
	if b == nil {
		return
	}
	b.dead.WithLabelValues(subject, group).Inc()
}
