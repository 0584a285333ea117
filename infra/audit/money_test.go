package audit_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/infra/audit"
)

func charge(order, payment string, status int) audit.StripeCall {
	return audit.StripeCall{Method: http.MethodPost, Path: "/v1/charges", IdempotencyKey: "payment-" + order + "-" + payment, Status: status}
}

func refund(payment string) audit.StripeCall {
	return audit.StripeCall{Method: http.MethodPost, Path: "/v1/refunds", IdempotencyKey: "refund-" + payment, Status: http.StatusOK}
}

const latePayment = "65f0000000000000000000c2"

// world, plus a charge that came after its order was cancelled.
func refundedWorld() *audit.Snapshot {
	s := world()
	s.Payments[latePayment] = audit.Payment{ID: latePayment, OrderID: cancelledOrder, Status: "refunded", StripeID: "ch_late", RefundID: "re_1"}
	return s
}

func TestMoney_ChargesOfCompleteOrdersAndRefundedOnesAreAccountedFor(t *testing.T) {
	calls := []audit.StripeCall{
		charge(completeOrder, paymentID, http.StatusOK),
		charge(completeOrder, paymentID, http.StatusOK),                              // the reconciler's repeat: one charge
		charge(createdOrder, "65f0000000000000000000c9", http.StatusPaymentRequired), // declined: no charge
		charge(cancelledOrder, latePayment, http.StatusOK),
		refund(latePayment),
		{Method: http.MethodGet, Path: "/v1/refunds", Status: http.StatusOK},
	}
	assert.Empty(t, audit.Money(refundedWorld(), calls))
}

// TestMoney_ARetriedRefundIsOneRefund: a refund sent again under its
// idempotency key, as the reconciler does when Stripe's answer was lost,
// is answered with the refund the first one made.
func TestMoney_ARetriedRefundIsOneRefund(t *testing.T) {
	calls := []audit.StripeCall{
		charge(completeOrder, paymentID, http.StatusOK),
		charge(cancelledOrder, latePayment, http.StatusOK),
		refund(latePayment),
		refund(latePayment),
	}
	assert.Empty(t, audit.Money(refundedWorld(), calls))
}

func TestMoney_FindsMoneyKeptWithoutATicketAndRefundsOfNothing(t *testing.T) {
	tests := []struct {
		name  string
		calls []audit.StripeCall
		s     *audit.Snapshot
		want  string
	}{
		{"a cancelled order's charge not refunded",
			[]audit.StripeCall{charge(completeOrder, paymentID, 200), charge(cancelledOrder, latePayment, 200)},
			refundedWorld(), "refunded 0 times"},
		{"a refund under a key of its own",
			[]audit.StripeCall{charge(completeOrder, paymentID, 200), charge(cancelledOrder, latePayment, 200), refund(latePayment), refund(latePayment + "-again")},
			refundedWorld(), "never charged"},
		{"a charge no payment records",
			[]audit.StripeCall{charge(completeOrder, paymentID, 200), charge(createdOrder, "65f0000000000000000000c9", 200)},
			world(), "no payment is stored"},
		{"a complete order's charge refunded",
			[]audit.StripeCall{charge(completeOrder, paymentID, 200), refund(paymentID)},
			world(), "refunded 1 times"},
		{"a refund of nothing charged",
			[]audit.StripeCall{charge(completeOrder, paymentID, 200), refund("65f0000000000000000000c8")},
			world(), "never charged"},
		{"a key of someone else's",
			[]audit.StripeCall{charge(completeOrder, paymentID, 200), {Method: http.MethodPost, Path: "/v1/charges", IdempotencyKey: "x", Status: 200}},
			world(), "names no payment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := audit.Money(tt.s, tt.calls)
			require.Len(t, got, 1, "%v", got)
			assert.Equal(t, audit.RuleMoney, got[0].Rule)
			assert.Contains(t, got[0].Detail, tt.want)
		})
	}
}
