package payment_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/errs"
	"ticketing.dev/common/events"
	"ticketing.dev/payments/internal/payment"
)

func TestCheckPayable(t *testing.T) {
	expires := time.Date(2026, 11, 25, 14, 15, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status events.OrderStatus
		now    time.Time
		want   error
	}{
		{"created, before its lock runs out", events.StatusCreated, expires.Add(-time.Millisecond), nil},
		{"awaiting payment", events.StatusAwaitingPayment, expires.Add(-time.Minute), nil},
		{"cancelled", events.StatusCancelled, expires.Add(-time.Minute), payment.ErrOrderCancelled},
		{"created, the moment its lock runs out", events.StatusCreated, expires, payment.ErrOrderCancelled},
		{"created, after its lock ran out", events.StatusCreated, expires.Add(time.Second), payment.ErrOrderCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := payment.Order{Status: tt.status, ExpiresAt: expires}
			assert.Equal(t, tt.want, o.CheckPayable(tt.now))
		})
	}
}

func TestCheckOwner(t *testing.T) {
	o := payment.Order{UserID: "buyer"}
	assert.NoError(t, o.CheckOwner("buyer"))
	assert.Equal(t, payment.ErrNotOwner, o.CheckOwner("someone else"))
}

func TestIdempotencyKey_NamesTheOrderAndTheClaim(t *testing.T) {
	c := payment.Claim{ID: "claim1", OrderID: "order1"}
	assert.Equal(t, "payment-order1-claim1", c.IdempotencyKey())
}

func TestDeclined_IsA400ShowingStripesMessage(t *testing.T) {
	err := payment.Declined("Your card has insufficient funds.")

	assert.ErrorIs(t, err, payment.ErrDeclined)
	status, body := errs.Response(err)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "Your card has insufficient funds.", body.Errors[0].Message)

	_, body = errs.Response(payment.Declined(""))
	assert.Equal(t, "Your card was declined.", body.Errors[0].Message, "a decline always explains itself")
}

func TestUnknown_IsA502ThatMayHaveCharged(t *testing.T) {
	cause := errors.New("read tcp: i/o timeout")
	err := payment.Unknown(cause)

	assert.ErrorIs(t, err, payment.ErrOutcomeUnknown)
	assert.ErrorIs(t, err, payment.ErrStripeUnavailable)
	assert.ErrorIs(t, err, cause)
	status, body := errs.Response(err)
	assert.Equal(t, http.StatusBadGateway, status)
	assert.Equal(t, payment.ErrStripeUnavailable.Message, body.Errors[0].Message)
}

func TestCreatedEvent(t *testing.T) {
	p := payment.Payment{ID: "p1", OrderID: "o1", StripeID: "ch_1"}
	assert.Equal(t, events.PaymentCreated{ID: "p1", OrderID: "o1", StripeID: "ch_1"}, p.CreatedEvent())
}

func TestCheckTimeLeft(t *testing.T) {
	expires := time.Date(2026, 11, 25, 14, 15, 0, 0, time.UTC)
	o := payment.Order{Status: events.StatusCreated, ExpiresAt: expires}
	assert.NoError(t, o.CheckTimeLeft(expires.Add(-30*time.Second), 30*time.Second))
	assert.Equal(t, payment.ErrTooLittleTime, o.CheckTimeLeft(expires.Add(-29*time.Second), 30*time.Second))
}

func TestRefundKey_NamesThePayment(t *testing.T) {
	assert.Equal(t, "refund-p1", payment.Payment{ID: "p1"}.RefundKey())
	assert.Equal(t, "refund-p1", payment.RefundClaim{PaymentID: "p1"}.IdempotencyKey())
}
