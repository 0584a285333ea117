// Package paymetrics counts what the payments service settles: refunds by
// what triggered them, and what each reconciler round did. Its metrics
// follow common/metrics (names ticketing_*, a nil *Metrics records
// nothing); the Stripe requests themselves, refunds included, are counted
// there as ticketing_stripe_requests_total{operation,outcome}.
package paymetrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"ticketing.dev/payments/internal/payment"
)

// The names of the metrics.
const (
	Refunds    = "ticketing_payments_refunds_total"
	Reconciled = "ticketing_payments_reconciled_total"
)

// Metrics counts refunds and reconciler outcomes.
type Metrics struct {
	refunds    *prometheus.CounterVec
	reconciled *prometheus.CounterVec
}

var _ payment.Observer = (*Metrics)(nil)

// New registers on reg ticketing_payments_refunds_total{trigger} and
// ticketing_payments_reconciled_total{kind,result}. A nil reg registers
// nothing and returns a nil *Metrics, which records nothing.
func New(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &Metrics{
		refunds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: Refunds,
			Help: "Refunds recorded, by trigger (in_flight, order_cancelled, reconciler).",
		}, []string{"trigger"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: Reconciled,
			Help: "Claims and refunds the reconciler settled, by kind (claim, refund) and result (completed, refunded, released, skipped, failed).",
		}, []string{"kind", "result"}),
	}
	for _, c := range []prometheus.Collector{m.refunds, m.reconciled} {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, fmt.Errorf("paymetrics: register: %w", err)
			}
		}
	}
	return m, nil
}

// Refunded counts a refund recorded.
func (m *Metrics) Refunded(trigger string) {
	if m == nil {
		return
	}
	m.refunds.WithLabelValues(trigger).Inc()
}

// Reconciled counts one thing a reconciler round settled.
func (m *Metrics) Reconciled(o payment.Outcome) {
	if m == nil {
		return
	}
	m.reconciled.WithLabelValues(o.Kind, o.Result).Inc()
}
