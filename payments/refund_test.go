package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/metrics"
	"ticketing.dev/common/metrics/metricstest"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
	"ticketing.dev/payments/internal/stripetest"
)

// Every successful charge ends in a complete order or in exactly one
// refund, whatever order the events arrive in.

// settleAge is how long the reconciler leaves a claim or refund to its
// holder, by the app's clock.
const settleAge = payment.DefaultChargeTimeout + payment.DefaultChargeMargin

// onlyPayment returns the one payment document.
func (a *wired) onlyPayment(t *testing.T) paymentDoc {
	t.Helper()
	docs := a.payments(t)
	require.Len(t, docs, 1)
	return docs[0]
}

// refunds counts the refunds recorded by trigger.
func (a *wired) refunds(t *testing.T, trigger string) float64 {
	t.Helper()
	return metricstest.Gather(t, a.reg).Value(metrics.PaymentRefunds, prometheus.Labels{"trigger": trigger})
}

// refundedOnce returns the one payment document after checking that it is
// refunded, that Stripe was asked for exactly one refund, of its charge,
// under the payment's refund key, and that the refund was counted under
// trigger.
func (a *wired) refundedOnce(t *testing.T, trigger string) paymentDoc {
	t.Helper()
	d := a.onlyPayment(t)
	assert.Equal(t, paymentdb.StatusRefunded, d.Status)
	assert.True(t, strings.HasPrefix(d.RefundID, "re_"), d.RefundID)
	assert.Equal(t, []stripetest.Refund{{Charge: d.StripeID, IdempotencyKey: "refund-" + d.ID.Hex()}}, a.stripe.Refunds())
	assert.Equal(t, 1.0, a.refunds(t, trigger))
	return d
}

// onlyOutcome runs a reconciler round and returns its one outcome.
func (a *wired) onlyOutcome(t *testing.T) payment.Outcome {
	t.Helper()
	outcomes := a.reconciler.Round(t.Context())
	require.Len(t, outcomes, 1)
	return outcomes[0]
}

// outcomeOnceStale checks that a reconciler round leaves what is still
// fresh to its holder (fresh says why), then moves the clock past
// settleAge and returns the one outcome of the next round.
func (a *wired) outcomeOnceStale(t *testing.T, fresh string) payment.Outcome {
	t.Helper()
	assert.Empty(t, a.reconciler.Round(t.Context()), fresh)
	a.clock.Advance(settleAge + time.Second)
	return a.onlyOutcome(t)
}

// payHeldAtStripe pays for the order as buyer in the background, and
// returns once the charge has reached Stripe, which holds it until release.
// The API's answer comes on paid after release.
func (a *wired) payHeldAtStripe(t *testing.T, buyer, orderID string) (paid <-chan response, release func()) {
	t.Helper()
	arrived, release := a.stripe.HoldCharges()
	t.Cleanup(release)
	answers := make(chan response, 1)
	go func() {
		r, err := post(a.url+"/api/payments", testkit.SignIn(t, buyer), `{"token":"tok_visa","orderId":"`+orderID+`"}`)
		assert.NoError(t, err)
		answers <- r
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the charge never reached Stripe")
	}
	return answers, release
}

// TestPay_CancelledWhileChargingIsRefundedOnce holds the charge at Stripe's
// door until order:cancelled has been applied and acked: the charge that
// then succeeds is refunded, once, and never announced.
func TestPay_CancelledWhileChargingIsRefundedOnce(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	buyer := newID()
	o := a.created(t, a.order(buyer, 2000))
	paid, release := a.payHeldAtStripe(t, buyer, o.ID)

	a.cancelled(t, o)
	assert.NoError(t, a.nthResult(t, o.ID, 2, "order:cancelled"), "acked: the charge in flight is its holder's to settle")
	release()
	r := <-paid

	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, payment.ErrCancelledWhilePaying.Message, r.message(t))
	d := a.refundedOnce(t, payment.TriggerInFlight)
	assert.True(t, strings.HasPrefix(d.StripeID, "ch_"), d.StripeID)
	assert.Equal(t, a.clock.Now().Truncate(time.Millisecond), d.RefundedAt.UTC())
	assert.Empty(t, d.Outbox, "no payment:created for a refunded charge")
	assert.Len(t, a.stripe.Charges(), 1)
	testkit.Quiet(t, created, 300*time.Millisecond)
}

// TestPay_OrderExpiringWhileChargingIsRefunded covers a lock that runs out
// as the charge goes through: the orders service will cancel the order, so
// the charge is refunded rather than announced too late.
func TestPay_OrderExpiringWhileChargingIsRefunded(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 2000))
	paid, release := a.payHeldAtStripe(t, buyer, o.ID)
	a.clock.Advance(15 * time.Minute)
	release()
	r := <-paid

	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, paymentdb.StatusRefunded, a.onlyPayment(t).Status)
	assert.Len(t, a.stripe.Refunds(), 1)
}

func TestOrderCancelled_AfterPaymentRefundsOnceAndItsRedeliveryDoesNot(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 2000))
	r := a.paid(t, buyer, o.ID)

	a.cancelled(t, o)

	assert.NoError(t, a.nthResult(t, o.ID, 2, "order:cancelled"), "acked once the refund is recorded")
	d := a.refundedOnce(t, payment.TriggerCancelled)
	assert.Equal(t, r.id(t), d.ID.Hex())

	// The same event again, as NATS Streaming redelivers it.
	publish(t, a.conn, events.OrderCancelled{ID: o.ID, Version: o.Version + 1, Ticket: events.TicketRef{ID: o.Ticket.ID}})

	assert.NoError(t, a.nthResult(t, o.ID, 3, "redelivered order:cancelled"))
	assert.Len(t, a.stripe.Refunds(), 1, "refunded once")
	// The relay may have drained the outbox meanwhile; the payment itself
	// must be as the first cancellation left it.
	got := a.onlyPayment(t)
	d.Outbox, got.Outbox = nil, nil
	assert.Equal(t, d, got)
}

func TestOrderCancelled_RefundStripeFailedIsNotAckedAndTheReconcilerFinishesIt(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 2000))
	a.paid(t, buyer, o.ID)
	failing := stripetest.Answering(t, http.StatusInternalServerError, stripetest.APIError)
	a.useStripe(t, failing.URL)

	a.cancelled(t, o)

	testkit.Eventually(t, func() bool { return len(a.handled.Of("", o.ID)) >= 2 }, "order:cancelled never handled")
	assert.ErrorIs(t, a.handled.Of("", o.ID)[1].Err, payment.ErrStripeUnavailable, "not acked")
	assert.Equal(t, paymentdb.StatusRefunding, a.onlyPayment(t).Status)

	a.useStripe(t, a.stripe.URL)
	a.clock.Advance(settleAge + time.Second)
	testkit.Eventually(t, func() bool { return a.onlyPayment(t).Status == paymentdb.StatusRefunded }, "never refunded")
	// Whichever finished it, the redelivered event or the reconciler, one
	// refund reached stripe-mock; the reconciler then finds nothing to do.
	outcomes := a.reconciler.Round(t.Context())
	assert.Empty(t, outcomes)
	assert.Len(t, a.stripe.Refunds(), 1)
}

// A process that dies leaves a claim pending; the reconciler settles it by
// repeating its charge exactly, then as Pay would have.

func TestReconciler_CompletesAClaimLeftPendingOnAPayableOrder(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	o := a.created(t, a.order(newID(), 1500))
	left := a.claimLeft(t, o.ID)

	got := a.outcomeOnceStale(t, "a fresh claim may still be charging")

	assert.Equal(t, payment.ResultCompleted, got.Result, "%v", got.Err)
	assert.Equal(t, []stripetest.Charge{{Amount: "1500", Currency: "usd", Source: "tok_visa", IdempotencyKey: left.IdempotencyKey(),
		Metadata: map[string]string{"order_id": o.ID, "payment_id": left.ID}}}, a.stripe.Charges())
	d := a.onlyPayment(t)
	assert.Equal(t, paymentdb.StatusSucceeded, d.Status)
	assert.Equal(t, events.PaymentCreated{ID: left.ID, OrderID: o.ID, StripeID: d.StripeID}, testkit.Next(t, created))
	assert.Empty(t, a.stripe.Refunds())
	assert.Equal(t, 1.0, metricstest.Gather(t, a.reg).Value(metrics.PaymentsReconciled,
		prometheus.Labels{"kind": payment.KindClaim, "result": payment.ResultCompleted}))
}

func TestReconciler_RefundsAClaimLeftPendingOnACancelledOrder(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	o := a.created(t, a.order(newID(), 1500))
	left := a.claimLeft(t, o.ID)
	a.cancelled(t, o)
	assert.NoError(t, a.nthResult(t, o.ID, 2, "order:cancelled"))
	assert.Empty(t, a.stripe.Refunds(), "nothing recorded as charged yet")

	a.clock.Advance(settleAge + time.Second)
	got := a.onlyOutcome(t)

	assert.Equal(t, payment.ResultRefunded, got.Result, "%v", got.Err)
	require.Len(t, a.stripe.Charges(), 1)
	assert.Equal(t, left.IdempotencyKey(), a.stripe.Charges()[0].IdempotencyKey)
	d := a.refundedOnce(t, payment.TriggerReconciler)
	assert.Equal(t, left.ID, d.ID.Hex())
	testkit.Quiet(t, created, 300*time.Millisecond)
}

// TestReconciler_ReleasesAClaimUnderWhichNothingWasCharged: Stripe refuses
// the repeated request (it declined the first, or the token was never
// used and is no longer valid), so no charge exists under the claim's key.
func TestReconciler_ReleasesAClaimUnderWhichNothingWasCharged(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.claimLeft(t, o.ID)
	declining := stripetest.Answering(t, http.StatusPaymentRequired, stripetest.CardDeclined)
	a.useStripe(t, declining.URL)
	a.clock.Advance(settleAge + time.Second)

	got := a.onlyOutcome(t)

	assert.Equal(t, payment.ResultReleased, got.Result, "%v", got.Err)
	assert.Len(t, declining.Charges(), 1)
	assert.Empty(t, declining.Refunds())
	assert.Empty(t, a.payments(t))

	a.useStripe(t, a.stripe.URL)
	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")
	assert.Equal(t, http.StatusCreated, r.status, "the order can be paid again: %s", r.body)
}

func TestReconciler_KeepsAClaimWhenStripeDoesNotAnswer(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 1500))
	a.claimLeft(t, o.ID)
	a.useStripe(t, stripetest.Unreachable(t))
	a.clock.Advance(settleAge + time.Second)

	assert.Equal(t, payment.ResultFailed, a.onlyOutcome(t).Result)
	d := a.onlyPayment(t)
	assert.Equal(t, paymentdb.StatusPending, d.Status, "kept for the next round")
	assert.True(t, d.Abandoned, "and for the buyer's next attempt")
}

// A claim older than Stripe keeps its idempotency key (MaxRepeatAge) is
// not charged again, which could charge the card twice: its charge is
// looked up by the metadata every charge carries, and settled as found.

func TestReconciler_SettlesAClaimOlderThanItsKeyByTheChargeItsMetadataFinds(t *testing.T) {
	tests := []struct {
		name   string
		window time.Duration // the order's, from when it was placed
		want   string        // the reconciler's result
	}{
		{"a payable order completed", 48 * time.Hour, payment.ResultCompleted},
		{"an expired order refunded", 15 * time.Minute, payment.ResultRefunded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(t)
			created := testkit.Observe[events.PaymentCreated](t, a.nats)
			e := a.order(newID(), 1500)
			e.ExpiresAt = events.NewTime(a.clock.Now().Add(tt.window))
			o := a.created(t, e)
			left := a.claimLeft(t, o.ID)
			a.clock.Advance(payment.MaxRepeatAge)

			got := a.onlyOutcome(t)

			assert.Equal(t, tt.want, got.Result, "%v", got.Err)
			assert.Empty(t, a.stripe.Charges(), "not charged again under a key Stripe may have forgotten")
			searches := a.stripe.Searches()
			require.Len(t, searches, 1)
			assert.Equal(t, "metadata['order_id']:'"+o.ID+"' AND metadata['payment_id']:'"+left.ID+"'", searches[0].Query)
			// stripe-mock answers with a canned charge, not the one a
			// charge request gets: settling it shows the answer is used.
			require.Len(t, searches[0].Found, 1)
			found := searches[0].Found[0]
			if tt.want == payment.ResultCompleted {
				d := a.onlyPayment(t)
				assert.Equal(t, paymentdb.StatusSucceeded, d.Status)
				assert.Equal(t, found, d.StripeID)
				assert.Equal(t, events.PaymentCreated{ID: left.ID, OrderID: o.ID, StripeID: found}, testkit.Next(t, created))
				assert.Empty(t, a.stripe.Refunds())
				return
			}
			assert.Equal(t, found, a.refundedOnce(t, payment.TriggerReconciler).StripeID)
			testkit.Quiet(t, created, 300*time.Millisecond)
		})
	}
}

func TestReconciler_ReleasesAnOldClaimOnlyWhenStripeHoldsItsChargesFailed(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"only a failed charge", http.StatusOK, stripetest.SearchResult("ch_declined failed"), payment.ResultReleased},
		// It never reached Stripe, or predates metadata: only a person
		// can tell.
		{"no charge", http.StatusOK, stripetest.SearchResult(), payment.ResultUndecided},
		{"Stripe failing", http.StatusInternalServerError, stripetest.APIError, payment.ResultUndecided},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(t)
			o := a.created(t, a.order(newID(), 1500))
			left := a.claimLeft(t, o.ID)
			stripe := stripetest.Answering(t, tt.status, tt.body)
			a.useStripe(t, stripe.URL)
			a.clock.Advance(payment.MaxRepeatAge + time.Hour)

			got := a.onlyOutcome(t)

			assert.Equal(t, tt.want, got.Result, "%v", got.Err)
			assert.Len(t, stripe.Searches(), 1)
			assert.Empty(t, stripe.Charges(), "not charged again")
			assert.Empty(t, stripe.Refunds())
			assert.Equal(t, 1.0, metricstest.Gather(t, a.reg).Value(metrics.PaymentsReconciled,
				prometheus.Labels{"kind": payment.KindClaim, "result": tt.want}))
			if tt.want == payment.ResultReleased {
				assert.Empty(t, a.payments(t))
				return
			}
			d := a.onlyPayment(t)
			assert.Equal(t, paymentdb.StatusPending, d.Status, "not released: it may have been charged")
			assert.False(t, d.Abandoned, "nor left to a buyer's attempt, which would charge under the forgotten key")
			assert.True(t, a.loggedError(t, left.ID), "logged at error level, for a person to settle")
		})
	}
}

// loggedError reports whether the service logged an error about the
// payment paymentID.
func (a *wired) loggedError(t *testing.T, paymentID string) bool {
	t.Helper()
	for line := range strings.Lines(a.logs.String()) {
		var entry struct {
			Level     string `json:"level"`
			PaymentID string `json:"payment_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		if entry.Level == "ERROR" && entry.PaymentID == paymentID {
			return true
		}
	}
	return false
}

// TestReconciler_RefundsAPaymentWhoseCancellationWasLearntButNotActedOn
// stands for a process that died between applying order:cancelled and
// refunding, after the event was given up on.
func TestReconciler_RefundsAPaymentWhoseCancellationWasLearntButNotActedOn(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	r := a.paid(t, buyer, o.ID)
	require.NoError(t, a.store.CancelOrder(t.Context(), o.ID, o.Version+1, a.clock.Now()))

	got := a.outcomeOnceStale(t, "a fresh cancellation is its listener's")

	assert.Equal(t, payment.Outcome{Kind: payment.KindRefund, Result: payment.ResultRefunded, OrderID: o.ID, PaymentID: r.id(t)}, got)
	assert.Equal(t, paymentdb.StatusRefunded, a.onlyPayment(t).Status)
	assert.Len(t, a.stripe.Refunds(), 1)
	assert.Empty(t, a.reconciler.Round(t.Context()), "settled for good")
}

// TestReconciler_LooksAtEachCancellationOnce: a round reads the cancelled
// orders since the round before, not those of the last day again. On
// FerretDB each of those reads scans the orders, and a day of them read
// every two seconds stalled the service under load.
func TestReconciler_LooksAtEachCancellationOnce(t *testing.T) {
	a := newApp(t)
	// More than a find's first batch (101), so that reading them all
	// takes a getMore too.
	for range 120 {
		e := a.order(newID(), 1500)
		require.NoError(t, a.store.AddOrder(t.Context(), payment.Order{ID: e.ID, UserID: e.UserID, Status: events.StatusCreated,
			Price: e.Ticket.Price, Version: e.Version, ExpiresAt: e.ExpiresAt.Time}))
		require.NoError(t, a.store.CancelOrder(t.Context(), e.ID, e.Version+1, a.clock.Now()))
	}
	orderReads := func() float64 {
		return metricstest.Gather(t, a.reg).Value(metrics.MongoCommands, prometheus.Labels{"collection": "orders", "command": "getMore"})
	}

	a.clock.Advance(settleAge + time.Second)
	before := orderReads()
	assert.Empty(t, a.reconciler.Round(t.Context()), "no payment to refund")
	assert.Positive(t, orderReads()-before, "the first round reads the 120 cancellations")

	a.clock.Advance(time.Second)
	before = orderReads()
	assert.Empty(t, a.reconciler.Round(t.Context()))
	assert.Zero(t, orderReads()-before, "the next round does not read them again")
}

func TestReconciler_FinishesARefundItsHolderLeft(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	r := a.paid(t, buyer, o.ID)
	_, err := a.store.ClaimRefund(t.Context(), r.id(t), a.clock.Now(), a.clock.Now())
	require.NoError(t, err)

	got := a.outcomeOnceStale(t, "its holder may still be refunding")

	assert.Equal(t, payment.ResultRefunded, got.Result, "%v", got.Err)
	assert.Equal(t, paymentdb.StatusRefunded, a.onlyPayment(t).Status)
	assert.Len(t, a.stripe.Refunds(), 1)
}

func TestPay_TooLittleTimeLeftIs400AndWritesNothing(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	before := testkit.Snapshot(t, a.db)
	a.clock.Advance(15*time.Minute - settleAge + time.Millisecond)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "Too little time is left to pay for this order", r.message(t))
	assert.Empty(t, a.stripe.Charges())
	assert.Equal(t, before, testkit.Snapshot(t, a.db))
}

func TestPay_TooLittleTimeLeftOnAPaidOrderIsAlreadyPaid(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.paid(t, buyer, o.ID)
	a.clock.Advance(15*time.Minute - time.Second)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "Order has already been paid", r.message(t))
}

func TestShowPayment_ToItsBuyerWithItsRefund(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	cookie := testkit.SignIn(t, buyer)
	price, err := events.ParseMoney("20.50")
	require.NoError(t, err)
	o := a.created(t, a.order(buyer, price))
	assert.Equal(t, http.StatusNotFound, a.get(t, cookie, "/api/payments/"+o.ID).status, "not paid yet")
	paid := a.payFor(t, cookie, o.ID, "tok_visa")
	require.Equal(t, http.StatusCreated, paid.status)
	stripeID := a.onlyPayment(t).StripeID

	r := a.get(t, cookie, "/api/payments/"+o.ID)

	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"id":"`+paid.id(t)+`","orderId":"`+o.ID+`","status":"succeeded","amount":20.5,"stripeId":"`+stripeID+`"}`, string(r.body))

	a.cancelled(t, o)
	testkit.Eventually(t, func() bool { return a.onlyPayment(t).Status == paymentdb.StatusRefunded }, "never refunded")
	d := a.onlyPayment(t)
	r = a.get(t, cookie, "/api/payments/"+strings.ToUpper(o.ID))

	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.JSONEq(t, `{"id":"`+paid.id(t)+`","orderId":"`+o.ID+`","status":"refunded","amount":20.5,"stripeId":"`+stripeID+`",
		"refund":{"id":"`+d.RefundID+`","refundedAt":"`+events.NewTime(a.clock.Now()).String()+`"}}`, string(r.body))
}

func TestShowPayment_IsOnlyForItsBuyer(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.paid(t, buyer, o.ID)

	other := a.get(t, testkit.SignIn(t, newID()), "/api/payments/"+o.ID)
	assert.Equal(t, http.StatusNotFound, other.status, "another user's payment does not exist for them")
	assert.Equal(t, "Not Found", other.message(t))

	anonymous := a.get(t, nil, "/api/payments/"+o.ID)
	assert.Equal(t, http.StatusUnauthorized, anonymous.status)
	assert.Equal(t, "Not authorized", anonymous.message(t))

	assert.Equal(t, http.StatusNotFound, a.get(t, testkit.SignIn(t, buyer), "/api/payments/"+newID()).status, "unknown order")
	assert.Equal(t, http.StatusBadRequest, a.get(t, testkit.SignIn(t, buyer), "/api/payments/not-an-id").status)
}
