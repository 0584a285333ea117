// Package reconciler runs the payments service's reconciler: every
// interval, payment.Service.Reconcile settles the claims and refunds that
// the normal paths left behind (see there), and each outcome is logged and
// counted.
package reconciler

import (
	"context"
	"log/slog"
	"time"

	"ticketing.dev/common/metrics"
	"ticketing.dev/payments/internal/payment"
)

// DefaultInterval is the time between two rounds.
const DefaultInterval = 30 * time.Second

// Reconciler runs rounds of reconciliation.
type Reconciler struct {
	payments *payment.Service
	interval time.Duration
	log      *slog.Logger
	metrics  *metrics.Settlement // nil records nothing
}

// New returns a Reconciler of payments running a round every interval,
// logging to log and counting in m.
func New(payments *payment.Service, interval time.Duration, log *slog.Logger, m *metrics.Settlement) *Reconciler {
	return &Reconciler{payments: payments, interval: interval, log: log.With("component", "reconciler"), metrics: m}
}

// Run runs a round at once, then one every interval, until ctx is done;
// the claim or refund in progress is finished first. It returns nil: a failed round is
// logged and the next one tries again.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.Round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round runs one round and returns what it did.
func (r *Reconciler) Round(ctx context.Context) []payment.Outcome {
	outcomes, err := r.payments.Reconcile(ctx)
	if err != nil && ctx.Err() == nil {
		r.log.ErrorContext(ctx, "reconcile round failed", "err", err)
	}
	for _, o := range outcomes {
		r.metrics.Reconciled(o.Kind, o.Result)
		attrs := []any{"kind", o.Kind, "result", o.Result, "order_id", o.OrderID, "payment_id", o.PaymentID}
		switch o.Result {
		case payment.ResultFailed:
			r.log.WarnContext(ctx, "reconcile: not settled, trying again next round", append(attrs, "err", o.Err)...)
		case payment.ResultUndecided:
			// Left pending rather than guessed at: money may be kept
			// without a ticket until a person settles it.
			r.log.ErrorContext(ctx, "reconcile: cannot tell what Stripe charged for a claim older than its idempotency key; left pending, settle it by hand",
				append(attrs, "err", o.Err)...)
		case payment.ResultSkipped:
			r.log.DebugContext(ctx, "reconcile: settled by another", attrs...)
		default:
			r.log.InfoContext(ctx, "reconcile: settled", attrs...)
		}
	}
	return outcomes
}
