package metrics

import "github.com/prometheus/client_golang/prometheus"

// Sweep counts the orders the orders service cancelled itself, their
// expiration:complete never having come (Redis lost the job).
type Sweep struct {
	swept prometheus.Counter
}

// NewSweep registers ticketing_orders_swept_total on reg. A nil reg
// registers nothing and returns a nil *Sweep, which records nothing.
func NewSweep(reg prometheus.Registerer) (*Sweep, error) {
	if reg == nil {
		return nil, nil
	}
	r := registrar{reg: reg}
	s := &Sweep{swept: add(&r, prometheus.NewCounter(prometheus.CounterOpts{
		Name: OrdersSwept,
		Help: "Orders the orders service cancelled itself, no expiration:complete having come within the grace period after expiresAt.",
	}))}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// Swept counts one order cancelled by the sweep.
func (s *Sweep) Swept() {
	if s == nil {
		return
	}
	s.swept.Inc()
}

// Settlement counts how the payments service settles charges after
// faults: refunds by what triggered them, and what each reconciler round
// did. The Stripe requests themselves are Stripe's.
type Settlement struct {
	refunds, reconciled *prometheus.CounterVec
}

// NewSettlement registers ticketing_payments_refunds_total{trigger} and
// ticketing_payments_reconciled_total{kind,result} on reg. A nil reg
// registers nothing and returns a nil *Settlement, which records nothing.
func NewSettlement(reg prometheus.Registerer) (*Settlement, error) {
	if reg == nil {
		return nil, nil
	}
	r := registrar{reg: reg}
	s := &Settlement{
		refunds: r.counter(PaymentRefunds,
			"Refunds recorded, by trigger (in_flight, order_cancelled, reconciler).", "trigger"),
		reconciled: r.counter(PaymentsReconciled,
			"Claims and refunds the reconciler settled, by kind (claim, refund) and result (completed, refunded, released, skipped, failed).", "kind", "result"),
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

// Refunded counts a refund recorded.
func (s *Settlement) Refunded(trigger string) {
	if s == nil {
		return
	}
	s.refunds.WithLabelValues(trigger).Inc()
}

// Reconciled counts one claim or refund a reconciler round settled.
func (s *Settlement) Reconciled(kind, result string) {
	if s == nil {
		return
	}
	s.reconciled.WithLabelValues(kind, result).Inc()
}
