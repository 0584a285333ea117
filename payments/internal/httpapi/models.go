package httpapi

import (
	"ticketing.dev/common/events"
	"ticketing.dev/payments/internal/payment"
)

// createPaymentRequest is the body of POST /api/payments, as the original
// client sends it: the card token Stripe's checkout returned, and the order.
type createPaymentRequest struct {
	Token   string `json:"token"`
	OrderID string `json:"orderId"`
}

// paymentResponse is a payment as the client sees it: its id alone, as the
// original app answers.
type paymentResponse struct {
	ID string `json:"id"`
}

// paymentView is the payment of an order as GET /api/payments/{orderId}
// shows it to its buyer: what was charged, where it stands, and its refund.
type paymentView struct {
	ID      string `json:"id"`
	OrderID string `json:"orderId"`
	// Status is pending (being charged or settled), succeeded, refunding
	// (the order was cancelled; the refund is under way) or refunded.
	Status payment.Status `json:"status"`
	// Amount is what the card was, or is being, charged, in dollars.
	Amount   events.Money `json:"amount"`
	StripeID string       `json:"stripeId,omitempty"`
	Refund   *refundView  `json:"refund,omitempty"`
}

// refundView is a payment's refund.
type refundView struct {
	ID         string      `json:"id"`
	RefundedAt events.Time `json:"refundedAt"`
}

func newPaymentView(p payment.Payment, o payment.Order) paymentView {
	v := paymentView{ID: p.ID, OrderID: p.OrderID, Status: p.Status, Amount: o.Price, StripeID: p.StripeID}
	if p.Status == payment.StatusRefunded {
		v.Refund = &refundView{ID: p.RefundID, RefundedAt: events.NewTime(p.RefundedAt)}
	}
	return v
}
