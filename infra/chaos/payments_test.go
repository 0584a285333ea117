package chaos_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"

	"ticketing.dev/common/events"
	"ticketing.dev/infra/audit"
)

// slowStripe is how long Stripe takes over each charge in this test: less
// than payments' charge timeout, a fifth of the window (600 ms).
const slowStripe = 400 * time.Millisecond

// Payments that race their order's end: half are cancelled by the buyer,
// in a second tab, while Stripe is still charging; the others start in the
// order's last second, as late as payments allows. Every charge must end
// in a complete order or in exactly one refund, and the buyer must be told
// which.
func TestChaos_PaymentsRacingTheirOrdersEndAreRefundedExactlyOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	dbs, disconnect, err := audit.Connect(stk.MongoURI())
	require.NoError(t, err)
	defer func() { _ = disconnect(context.WithoutCancel(ctx)) }()

	l := &load{base: stk.URL, rec: &recorder{}, book: newLedger(), run: fmt.Sprintf("race%x", time.Now().UnixNano())}
	seller, err := l.account(ctx, "race-seller")
	require.NoError(t, err)
	const races = 12
	var buyers []*user
	for i := range races {
		b, err := l.account(ctx, fmt.Sprintf("race-buyer%d", i))
		require.NoError(t, err)
		buyers = append(buyers, b)
	}

	stk.DelayStripeCharges(slowStripe)
	defer stk.DelayStripeCharges(0)
	type outcome struct {
		order         order
		cancelled     bool // in a second tab, during the charge
		pay, deletion int  // the statuses the buyer saw
	}
	outcomes := make([]outcome, races)
	var wg sync.WaitGroup
	for i, b := range buyers {
		wg.Go(func() {
			var tk ticket
			if !assert.Equal(t, http.StatusCreated, seller.do(ctx, http.MethodPost, "/api/tickets",
				map[string]any{"title": fmt.Sprintf("race %s-%d", l.run, i), "price": events.Money(1500)}, &tk)) {
				return
			}
			o := &outcomes[i]
			o.cancelled = i%2 == 0
			// The ticket reaches orders, then the order reaches payments.
			for o.order.ID == "" && ctx.Err() == nil {
				if b.do(ctx, http.MethodPost, "/api/orders", map[string]string{"ticketId": tk.ID}, &o.order) != http.StatusCreated {
					time.Sleep(50 * time.Millisecond) // a buyer's pause before trying again; the loop is the wait for the condition
				}
			}
			// Payments knows the order before the race starts.
			oid, err := bson.ObjectIDFromHex(o.order.ID)
			if !assert.NoError(t, err) {
				return
			}
			for ctx.Err() == nil {
				if n, _ := dbs.Payments.Collection("orders").CountDocuments(ctx, bson.D{{Key: "_id", Value: oid}}); n == 1 {
					break
				}
				time.Sleep(20 * time.Millisecond) // poll interval: this goroutine cannot use require.Eventually
			}
			if !o.cancelled {
				// As late as payments allows a charge: the timeout and
				// the margin, a fifth and a tenth of the window, left.
				sleep(ctx, time.Until(o.order.ExpiresAt.Add(-window*3/10-50*time.Millisecond)))
			}
			pay := func() int {
				for ctx.Err() == nil {
					var p struct{ ID string }
					status := b.do(ctx, http.MethodPost, "/api/payments", map[string]string{"token": "tok_visa", "orderId": o.order.ID}, &p)
					if status != http.StatusNotFound { // not yet in payments' replica
						return status
					}
					time.Sleep(20 * time.Millisecond) // a buyer's pause before paying again
				}
				return 0
			}
			if !o.cancelled {
				o.pay = pay()
				return
			}
			paid := make(chan int)
			go func() { paid <- pay() }()
			sleep(ctx, slowStripe/4)
			o.deletion = b.do(ctx, http.MethodDelete, "/api/orders/"+o.order.ID, nil, nil)
			o.pay = <-paid
		})
	}
	wg.Wait()
	stk.DelayStripeCharges(0)

	report, err := audit.WaitQuiet(ctx, dbs, quietMax, auditConfig)
	require.NoError(t, err, "%s", report)
	snap, err := audit.Load(ctx, dbs)
	require.NoError(t, err)
	assert.True(t, report.OK(), "%s", report)
	assert.Empty(t, audit.Money(snap, stripeCalls()), "money kept without a ticket, or refunded twice")

	refunded, complete := 0, 0
	for _, o := range outcomes {
		got := snap.Orders[o.order.ID]
		switch o.pay {
		case http.StatusCreated:
			complete++
			assert.Equal(t, events.StatusComplete, got.Status, "order %s was paid (201)", o.order.ID)
		case http.StatusBadRequest:
			// Refused before charging (too little time left, or
			// cancelled first), or charged and refunded: the order is
			// cancelled either way.
			assert.Equal(t, events.StatusCancelled, got.Status, "order %s: payment refused", o.order.ID)
		default:
			t.Errorf("order %s: payment answered %d", o.order.ID, o.pay)
		}
		for _, p := range snap.Payments {
			if p.OrderID == o.order.ID && p.Status == "refunded" {
				refunded++
				assert.Equal(t, http.StatusBadRequest, o.pay, "a refunded payment's buyer was told it failed")
			}
		}
		if o.cancelled {
			assert.Equal(t, http.StatusNoContent, o.deletion, "order %s: cancelled during its charge", o.order.ID)
		}
	}
	t.Logf("%d races: %d orders paid, %d charges refunded", races, complete, refunded)
	assert.NotZero(t, refunded, "some charges were refunded: the race was run")
}
