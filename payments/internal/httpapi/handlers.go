package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"ticketing.dev/common/session"
	"ticketing.dev/common/web"
	"ticketing.dev/payments/internal/payment"
)

// Validation messages.
const (
	msgToken      = "token must be provided"
	msgTokenLong  = "token must be a Stripe token"
	msgOrderID    = "orderId must be provided"
	msgOrderIDBad = "orderId must be a valid id"
	// maxTokenLen bounds what is sent to Stripe and kept with a claim;
	// Stripe's token ids are a few dozen characters.
	maxTokenLen = 255
)

type handlers struct {
	payments *payment.Service
}

// create pays for the caller's order.
func (h *handlers) create(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	req, err := decodePayment(w, r)
	if err != nil {
		return err
	}
	p, err := h.payments.Pay(r.Context(), u.ID, req.OrderID, req.Token)
	if errors.Is(err, payment.ErrCancelledWhilePaying) && err != payment.ErrCancelledWhilePaying {
		// Cancelled while paying, and the refund not confirmed by Stripe:
		// the buyer sees a 400, so the cause is logged here; the
		// reconciler finishes the refund.
		web.Logger(r.Context()).WarnContext(r.Context(), "order cancelled while being paid; refund left to the reconciler",
			"order_id", req.OrderID, "err", err)
	}
	if err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusCreated, paymentResponse{ID: p.ID})
}

// show returns the payment of the caller's order, with its refund. Another
// user's order is a 404, as if it did not exist: it is none of theirs.
func (h *handlers) show(w http.ResponseWriter, r *http.Request) error {
	u, err := session.Current(r.Context())
	if err != nil {
		return err
	}
	p, o, err := h.payments.Payment(r.Context(), u.ID, chi.URLParam(r, "orderId"))
	if err != nil {
		return err
	}
	return web.Respond(w, r, http.StatusOK, newPaymentView(p, o))
}

// decodePayment reads the body of POST /api/payments, its token trimmed.
// Both fields are checked before any lookup, so a client learns of every
// missing one at once.
func decodePayment(w http.ResponseWriter, r *http.Request) (createPaymentRequest, error) {
	var req createPaymentRequest
	if err := web.Decode(w, r, &req); err != nil {
		return createPaymentRequest{}, err
	}
	req.Token = strings.TrimSpace(req.Token)
	var v web.Validator
	v.Check(req.Token != "", "token", msgToken)
	v.Check(len(req.Token) <= maxTokenLen, "token", msgTokenLong)
	v.Check(req.OrderID != "", "orderId", msgOrderID)
	v.Check(req.OrderID == "" || web.ValidID(req.OrderID), "orderId", msgOrderIDBad)
	if err := v.Err(); err != nil {
		return createPaymentRequest{}, err
	}
	return req, nil
}
