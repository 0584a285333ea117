package httpapi

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
