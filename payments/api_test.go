package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/payments/internal/payment"
	"ticketing.dev/payments/internal/paymentdb"
	"ticketing.dev/payments/internal/stripetest"
)

// paid pays for the order with tok_visa as buyer and requires a 201.
func (a *wired) paid(t *testing.T, buyer, orderID string) response {
	t.Helper()
	r := a.payFor(t, testkit.SignIn(t, buyer), orderID, "tok_visa")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	return r
}

// claimLeft claims the order for tok_visa as a process that died before it
// could charge leaves it, and returns the claim.
func (a *wired) claimLeft(t *testing.T, orderID string) payment.Claim {
	t.Helper()
	c, err := a.store.Claim(t.Context(), payment.Claim{OrderID: orderID, Token: "tok_visa", ClaimedAt: a.clock.Now()}, a.clock.Now())
	require.NoError(t, err)
	return c
}

// payAtOnce has racers requests pay for the order with token as the user
// of cookie at the same time, and returns their answers.
func (a *wired) payAtOnce(t *testing.T, cookie *http.Cookie, orderID, token string, racers int) []response {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]response, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			results[i], errs[i] = post(a.url+"/api/payments", cookie, `{"token":"`+token+`","orderId":"`+orderID+`"}`)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	return results
}

// assertRefused checks that r refused the payment with status and message,
// and that nothing was charged or recorded.
func (a *wired) assertRefused(t *testing.T, r response, status int, message string) {
	t.Helper()
	assert.Equal(t, status, r.status, "%s", r.body)
	assert.Equal(t, message, r.message(t))
	assert.Empty(t, a.stripe.Charges())
	assert.Empty(t, a.payments(t))
}

// countStatuses counts the answers by status.
func countStatuses(rs []response) map[int]int {
	statuses := map[int]int{}
	for _, r := range rs {
		statuses[r.status]++
	}
	return statuses
}

// The cases of the original app's payments route tests come first.

func TestPay_OrderThatDoesNotExistIs404(t *testing.T) {
	a := newApp(t)

	r := a.payFor(t, testkit.SignIn(t, newID()), newID(), "tok_visa")

	assert.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
	assert.Empty(t, a.stripe.Charges())
}

func TestPay_SomeoneElsesOrderIs401(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 2000))

	r := a.payFor(t, testkit.SignIn(t, newID()), o.ID, "tok_visa")

	a.assertRefused(t, r, http.StatusUnauthorized, "Not authorized")
}

func TestPay_CancelledOrderIs400(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 2000))
	a.cancelled(t, o)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	a.assertRefused(t, r, http.StatusBadRequest, "Cannot pay for a cancelled order")
}

func TestPay_ChargesThePriceInCentsAndRecordsThePayment(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	price, err := events.ParseMoney("20.99")
	require.NoError(t, err)
	o := a.created(t, a.order(buyer, price))

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	id := r.id(t)
	assert.Equal(t, []stripetest.Charge{{
		Amount:         "2099",
		Currency:       "usd",
		Source:         "tok_visa",
		IdempotencyKey: "payment-" + o.ID + "-" + id,
		Metadata:       map[string]string{"order_id": o.ID, "payment_id": id},
	}}, a.stripe.Charges())
	docs := a.payments(t)
	require.Len(t, docs, 1)
	assert.Equal(t, id, docs[0].ID.Hex())
	assert.Equal(t, o.ID, docs[0].OrderID)
	assert.Equal(t, paymentdb.StatusSucceeded, docs[0].Status)
	assert.True(t, strings.HasPrefix(docs[0].StripeID, "ch_"), docs[0].StripeID)
	assert.Empty(t, docs[0].Token, "a token is kept only while its charge is under way")
}

// And the guarantees the original did not make.

func TestPay_PublishesPaymentCreated(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	e := testkit.Next(t, created)
	docs := a.payments(t)
	require.Len(t, docs, 1)
	assert.Equal(t, events.PaymentCreated{ID: r.id(t), OrderID: o.ID, StripeID: docs[0].StripeID}, e)
	testkit.Quiet(t, created, 200*time.Millisecond)
	testkit.Eventually(t, func() bool { return len(a.payments(t)[0].Outbox) == 0 }, "the published event never left the outbox")
}

func TestPay_PaidOrderCannotBePaidAgain(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.paid(t, buyer, o.ID)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_mastercard")

	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "Order has already been paid", r.message(t))
	assert.Len(t, a.stripe.Charges(), 1)
	assert.Len(t, a.payments(t), 1)
}

func TestPay_OrderIDInUpperCaseIsTheSameOrder(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.paid(t, buyer, o.ID)

	r := a.payFor(t, testkit.SignIn(t, buyer), strings.ToUpper(o.ID), "tok_visa")

	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "Order has already been paid", r.message(t))
	assert.Len(t, a.stripe.Charges(), 1)
}

func TestPay_ConcurrentPaymentsOfOneOrderChargeOnce(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	cookie := testkit.SignIn(t, buyer)
	const racers = 5

	results := a.payAtOnce(t, cookie, o.ID, "tok_visa", racers)

	for _, r := range results {
		if r.status == http.StatusBadRequest {
			assert.Contains(t, []string{"Order has already been paid", payment.ErrPaymentInProgress.Message}, r.message(t))
		}
	}
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusBadRequest: racers - 1}, countStatuses(results))
	assert.Len(t, a.stripe.Charges(), 1, "exactly one charge reaches Stripe")
	assert.Len(t, a.payments(t), 1)
	testkit.Next(t, created)
	testkit.Quiet(t, created, 300*time.Millisecond)
}

func TestPay_OrderPastItsExpiryIsRefusedBeforeItsCancellationArrives(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.clock.Advance(15 * time.Minute) // exactly expiresAt: the lock has run out

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	a.assertRefused(t, r, http.StatusBadRequest, "Cannot pay for a cancelled order")
	d, _ := a.replica(t, o.ID)
	assert.Equal(t, "created", d.Status, "the order:cancelled has not come yet")
}

func TestPay_DeclinedCardIs400WithStripesMessageAndRecordsNothing(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	declining := stripetest.Answering(t, http.StatusPaymentRequired, stripetest.CardDeclined)
	a.useStripe(t, declining.URL)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_chargeDeclined")

	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, "Your card was declined.", r.message(t))
	assert.Empty(t, a.payments(t))
	testkit.Quiet(t, created, 300*time.Millisecond)

	// The buyer tries another card, which Stripe accepts. It is charged
	// under a key of its own: Stripe would replay the decline for the old.
	a.useStripe(t, a.stripe.URL)
	r = a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	charges := a.stripe.Charges()
	require.Len(t, charges, 1)
	assert.Equal(t, "tok_visa", charges[0].Source)
	require.Len(t, declining.Charges(), 1)
	assert.NotEqual(t, declining.Charges()[0].IdempotencyKey, charges[0].IdempotencyKey)
	assert.Equal(t, r.id(t), testkit.Next(t, created).ID)
}

func TestPay_UnreachableStripeIs502AndRecordsNothing(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.useStripe(t, stripetest.Unreachable(t))

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	assert.Equal(t, payment.ErrStripeUnavailable.Message, r.message(t))
	assert.Empty(t, a.payments(t))
	testkit.Quiet(t, created, 300*time.Millisecond)

	a.useStripe(t, a.stripe.URL)
	r = a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Len(t, a.stripe.Charges(), 1)
	assert.Equal(t, r.id(t), testkit.Next(t, created).ID)
}

func TestPay_StripeServerErrorIs502AndRecordsNothing(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	a.useStripe(t, stripetest.Answering(t, http.StatusInternalServerError, stripetest.APIError).URL)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	assert.Empty(t, a.payments(t))
}

// TestPay_UnansweredChargeIsRepeatedByTheNextAttempt covers a charge whose
// answer never came: it may have gone through, so the next attempt sends
// Stripe exactly the same request, which Stripe answers with the charge it
// made, if any, rather than making a second one.
func TestPay_UnansweredChargeIsRepeatedByTheNextAttempt(t *testing.T) {
	a := newApp(t)
	created := testkit.Observe[events.PaymentCreated](t, a.nats)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	silent := stripetest.Silent(t, 10*time.Second)
	a.useStripe(t, silent.URL)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_visa")

	assert.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	testkit.Quiet(t, created, 200*time.Millisecond)
	docs := a.payments(t)
	require.Len(t, docs, 1, "the claim is kept for the next attempt")
	assert.Equal(t, paymentdb.StatusPending, docs[0].Status)
	assert.True(t, docs[0].Abandoned)

	a.useStripe(t, a.stripe.URL)
	r = a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_mastercard")

	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, docs[0].ID.Hex(), r.id(t))
	require.Len(t, silent.Charges(), 1)
	assert.Equal(t, silent.Charges(), a.stripe.Charges(), "the very same request: same key, same token")
	assert.Equal(t, r.id(t), testkit.Next(t, created).ID)
}

func TestPay_ClaimLeftByACrashIsTakenOverOnceStale(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	// A process claimed the order, then died before it could finish.
	left := a.claimLeft(t, o.ID)

	r := a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_mastercard")
	assert.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	assert.Equal(t, payment.ErrPaymentInProgress.Message, r.message(t), "a fresh claim may still be charging")
	assert.Empty(t, a.stripe.Charges())

	a.clock.Advance(payment.DefaultStaleClaim + time.Second)
	r = a.payFor(t, testkit.SignIn(t, buyer), o.ID, "tok_mastercard")

	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, left.ID, r.id(t))
	assert.Equal(t, []stripetest.Charge{{Amount: "1500", Currency: "usd", Source: "tok_visa", IdempotencyKey: left.IdempotencyKey(),
		Metadata: map[string]string{"order_id": o.ID, "payment_id": left.ID}}},
		a.stripe.Charges(), "the dead process's request, repeated")
}

func TestPay_ConcurrentTakeoversOfAStaleClaimChargeOnce(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	left := a.claimLeft(t, o.ID)
	a.clock.Advance(payment.DefaultStaleClaim + time.Second)
	cookie := testkit.SignIn(t, buyer)
	const racers = 5

	results := a.payAtOnce(t, cookie, o.ID, "tok_mastercard", racers)

	for _, r := range results {
		if r.status == http.StatusCreated {
			assert.Equal(t, left.ID, r.id(t))
		}
	}
	assert.Equal(t, map[int]int{http.StatusCreated: 1, http.StatusBadRequest: racers - 1}, countStatuses(results))
	assert.Len(t, a.stripe.Charges(), 1, "exactly one charge reaches Stripe")
	assert.Len(t, a.payments(t), 1)
}

func TestPay_NotSignedInIs401(t *testing.T) {
	a := newApp(t)
	o := a.created(t, a.order(newID(), 1500))

	r := a.payFor(t, nil, o.ID, "tok_visa")

	assert.Equal(t, http.StatusUnauthorized, r.status)
	assert.Equal(t, "Not authorized", r.message(t))
}

func TestPay_InvalidRequestsAre400NamingTheirFields(t *testing.T) {
	a := newApp(t)
	buyer := newID()
	o := a.created(t, a.order(buyer, 1500))
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"empty body", ``, []string{"token", "orderId"}},
		{"empty object", `{}`, []string{"token", "orderId"}},
		{"no token", `{"orderId":"` + o.ID + `"}`, []string{"token"}},
		{"blank token", `{"token":"  ","orderId":"` + o.ID + `"}`, []string{"token"}},
		{"no order id", `{"token":"tok_visa"}`, []string{"orderId"}},
		{"malformed order id", `{"token":"tok_visa","orderId":"abc"}`, []string{"orderId"}},
		{"operator object for the order id", `{"token":"tok_visa","orderId":{"$gt":""}}`, []string{"orderId"}},
		{"operator object for the token", `{"token":{"$ne":null},"orderId":"` + o.ID + `"}`, []string{"token"}},
		{"number for the order id", `{"token":"tok_visa","orderId":42}`, []string{"orderId"}},
		{"huge token", `{"token":"` + strings.Repeat("t", 300) + `","orderId":"` + o.ID + `"}`, []string{"token"}},
		{"not json", `token=tok_visa`, []string{""}},
	}
	cookie := testkit.SignIn(t, buyer)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.pay(t, cookie, tt.body)

			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			var fields []string
			for _, e := range r.errors(t) {
				fields = append(fields, e.Field)
				assert.NotEmpty(t, e.Message)
			}
			assert.Equal(t, tt.fields, fields)
		})
	}
	assert.Empty(t, a.stripe.Charges())
	assert.Empty(t, a.payments(t))
}
