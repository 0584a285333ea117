package payment

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// reconcileBatch bounds what one round of Reconcile settles of each kind;
// the next round takes the rest.
const reconcileBatch = 100

// refundLookback bounds how long ago an order's cancellation may have been
// applied for the first round of a process to look for its payment. Later
// rounds look only at the cancellations applied since the round before
// (refundWindow).
const refundLookback = 24 * time.Hour

// refundWindow is where the next round's look at cancelled orders starts.
// A round looks at the cancellations applied up to settleAge before its
// start: by then every payment that raced one of them is recorded as
// succeeded, or left as a claim that the claims' half of the round
// settles. Once a round has looked at all of those (fewer than a
// batch, none failed), the next starts where it ended, so that each
// cancellation is looked at once, not every round for a day: on FerretDB
// each look reads every cancelled order and every payment, and rounds
// that read a day of cancellations every two seconds stalled the service.
// A cancellation stamped by another process whose clock is behind by less
// than settleAge still falls in a later window.
type refundWindow struct {
	mu   sync.Mutex
	from time.Time // zero: refundLookback before the round
}

func (w *refundWindow) start(now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.from.IsZero() {
		return now.Add(-refundLookback)
	}
	return w.from
}

// advance moves the window's start to end, never backwards.
func (w *refundWindow) advance(end time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end.After(w.from) {
		w.from = end
	}
}

// The kinds of thing Reconcile settles.
const (
	// KindClaim is a claim left pending: its charge's outcome is unknown,
	// or its holder died between the charge and its record.
	KindClaim = "claim"
	// KindRefund is a payment whose refund is due and nobody is making:
	// its holder died, or Stripe failed, or the order:cancelled that asked
	// for it was given up on.
	KindRefund = "refund"
)

// The results of settling one thing.
const (
	// ResultCompleted is a claim charged and recorded as a payment, with
	// its payment:created.
	ResultCompleted = "completed"
	// ResultRefunded is a charge refunded.
	ResultRefunded = "refunded"
	// ResultReleased is a claim under which Stripe charged nothing: it is
	// deleted, and the order may be paid again.
	ResultReleased = "released"
	// ResultSkipped is a claim or refund someone else took meanwhile.
	ResultSkipped = "skipped"
	// ResultFailed is one that could not be settled this time, such as
	// because Stripe failed; the next round tries again.
	ResultFailed = "failed"
	// ResultUndecided is a claim older than MaxRepeatAge whose charge the
	// lookup by metadata could not settle: Stripe holds none of it, or more
	// than one, or failed. It stays pending, neither released nor offered
	// to the buyer's next attempt, and every round tries again; a person
	// should look at it.
	ResultUndecided = "undecided"
)

// Outcome is what Reconcile did with one claim or payment.
type Outcome struct {
	Kind      string
	Result    string
	OrderID   string
	PaymentID string
	// Err is why it failed, for ResultFailed and ResultUndecided.
	Err error
}

// Reconcile settles, once, what the normal paths left behind:
//   - claims pending for longer than a charge may take: their charge is
//     repeated, exactly, under the claim's idempotency key and card token,
//     and settled as Pay settles it — recorded with payment:created while
//     the order is payable, refunded otherwise — or the claim is released
//     when Stripe refuses it, since then no charge exists under that key;
//     a claim older than MaxRepeatAge, whose key Stripe may have forgotten,
//     has its charge looked up by metadata instead (see chargeOf);
//   - payments to refund that nobody is refunding: those left refunding
//     for longer than a refund may take, and those succeeded whose order's
//     replica is cancelled.
//
// Why repeat the charge rather than search for it (Stripe's Charges search
// by metadata) while Stripe keeps the key: the search is eventually
// consistent — Stripe documents under a minute, up to an hour during
// incidents, and advises against it for read-after-write — so an empty
// answer does not prove that nothing was charged, and releasing on it
// could keep money without a ticket. A request repeated with its
// idempotency key is answered from Stripe's record of that key for 24
// hours: the charge it made, the refusal it gave, or, if the request never
// reached Stripe, a charge made now; the cost of the last case, for an
// order cancelled meanwhile, is a charge refunded at once. Past that, a
// repeated request is a new one, and the search, by then long caught up,
// is the one safe way to learn what was charged.
//
// Once ctx is done, Reconcile returns before the next claim or payment; the
// one under way is finished, within the charge timeout.
func (s *Service) Reconcile(ctx context.Context) ([]Outcome, error) {
	now := s.now()
	before := now.Add(-s.settleAge())
	claims, err := s.store.PendingClaims(ctx, before, reconcileBatch)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	var out []Outcome
	for _, c := range claims {
		if ctx.Err() != nil {
			return out, nil
		}
		out = append(out, s.reconcileClaim(ctx, c))
	}
	// The window's end is exclusive and its start too: it starts a
	// millisecond (BSON's precision) before the last one ended.
	due, err := s.store.RefundsDue(ctx, before, s.refunds.start(now), before, reconcileBatch)
	if err != nil {
		return out, fmt.Errorf("reconcile: %w", err)
	}
	settled := len(due) < reconcileBatch
	for _, p := range due {
		if ctx.Err() != nil {
			return out, nil
		}
		o := s.reconcileRefund(ctx, p)
		settled = settled && o.Result != ResultFailed
		out = append(out, o)
	}
	if settled {
		s.refunds.advance(before.Add(-time.Millisecond))
	}
	return out, nil
}

// reconcileClaim settles one claim left pending.
func (s *Service) reconcileClaim(ctx context.Context, c Claim) Outcome {
	out := Outcome{Kind: KindClaim, OrderID: c.OrderID, PaymentID: c.ID}
	fail := func(err error) Outcome {
		out.Result, out.Err = ResultFailed, err
		return out
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.chargeTimeout)
	defer cancel()
	c, err := s.store.Retake(ctx, c, s.now())
	if errors.Is(err, ErrPaymentInProgress) {
		out.Result = ResultSkipped
		return out
	}
	if err != nil {
		return fail(err)
	}
	stripeID, result, err := s.chargeOf(ctx, c)
	if result != "" {
		out.Result, out.Err = result, err
		return out
	}
	p, err := s.settle(ctx, c, stripeID, TriggerReconciler)
	if err != nil {
		return fail(err)
	}
	switch p.Status {
	case StatusSucceeded:
		out.Result = ResultCompleted
	case StatusRefunded:
		out.Result = ResultRefunded
	default:
		out.Result = ResultSkipped
	}
	return out
}

// chargeOf finds out what Stripe charged under the claim c, which the
// caller holds: it returns the charge's id, or the result that ends the
// claim's round — released when nothing was charged, failed or undecided
// with why.
//
// While Stripe keeps the claim's key, the charge is repeated under it.
// Past MaxRepeatAge it is looked up by its metadata: Stripe's search lags
// writes by an hour at most, and the claim is older than a day. A lookup
// that cannot tell leaves the claim pending and not abandoned: releasing
// it could keep money without a ticket, and a buyer's attempt taking it
// over would repeat the charge under the forgotten key.
func (s *Service) chargeOf(ctx context.Context, c Claim) (stripeID, result string, err error) {
	if age := s.now().Sub(c.CreatedAt); age >= MaxRepeatAge {
		stripeID, err = s.charger.FindCharge(ctx, c)
		switch {
		case errors.Is(err, ErrNotCharged):
			return s.release(ctx, c)
		case err != nil:
			return "", ResultUndecided, fmt.Errorf("claim made %v ago, longer than Stripe keeps its idempotency key: %w", age.Round(time.Second), err)
		}
		return stripeID, "", nil
	}
	o, err := s.store.Order(ctx, c.OrderID)
	if err != nil {
		return "", ResultFailed, err
	}
	stripeID, err = s.charger.Charge(ctx, c, o.Price.Cents(), Currency)
	switch {
	case errors.Is(err, ErrDeclined):
		return s.release(ctx, c)
	case err != nil:
		// Left for the next round; abandoned, so that the buyer who
		// tries again takes it over at once.
		return "", ResultFailed, errors.Join(err, s.store.Abandon(ctx, c))
	}
	return stripeID, "", nil
}

// release deletes the claim c, under which nothing was charged, for
// chargeOf.
func (s *Service) release(ctx context.Context, c Claim) (stripeID, result string, err error) {
	if err := s.store.Release(ctx, c); err != nil {
		return "", ResultFailed, fmt.Errorf("release claim: %w", err)
	}
	return "", ResultReleased, nil
}

// reconcileRefund makes one refund that nobody is making.
func (s *Service) reconcileRefund(ctx context.Context, p Payment) Outcome {
	out := Outcome{Kind: KindRefund, OrderID: p.OrderID, PaymentID: p.ID}
	start := s.now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.chargeTimeout)
	defer cancel()
	p, err := s.refundIfCancelled(ctx, p, TriggerReconciler)
	switch {
	case err != nil:
		out.Result, out.Err = ResultFailed, err
	case p.Status == StatusRefunded && !p.RefundedAt.Before(start.Truncate(time.Millisecond)): // as BSON keeps it
		out.Result = ResultRefunded
	default:
		out.Result = ResultSkipped // refunded by another meanwhile, or no longer due
	}
	return out
}
