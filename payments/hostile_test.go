package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
	"ticketing.dev/common/testkit"
	"ticketing.dev/common/web/webtest"
)

// hostileApp is the payments service with one unpaid order of buyer's in
// its replica, and an observer of payment:created.
type hostileApp struct {
	*wired
	buyer   string
	order   events.OrderCreated
	paid    <-chan events.PaymentCreated
	fields  []webtest.Field
	genuine *http.Cookie
}

func newHostileApp(t *testing.T) *hostileApp {
	t.Helper()
	a := newApp(t)
	h := &hostileApp{wired: a, buyer: newID()}
	h.order = a.created(t, a.order(h.buyer, 2000))
	h.paid = testkit.Observe[events.PaymentCreated](t, a.nats)
	h.genuine = testkit.SignIn(t, h.buyer)
	h.fields = []webtest.Field{{Name: "token", Valid: `"tok_visa"`}, {Name: "orderId", Valid: `"` + h.order.ID + `"`}}
	return h
}

// assertNothingWritten compares the database with before and checks that
// Stripe was not called and no payment published; then that the genuine
// request pays, so that the silence was not the observers'.
func (h *hostileApp) assertNothingWritten(t *testing.T, before any) {
	t.Helper()
	assert.Equal(t, before, testkit.Snapshot(t, h.db), "the database is as it was")
	assert.Empty(t, h.stripe.Charges(), "Stripe was not called")
	testkit.Quiet(t, h.paid, 300*time.Millisecond)
	r := h.pay(t, h.genuine, webtest.Object(h.fields, nil))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, h.order.ID, testkit.Next(t, h.paid).OrderID, "the first payment since the hostile requests")
}

func TestHostileBodies_AreClientErrorsAndWriteNothing(t *testing.T) {
	h := newHostileApp(t)
	before := testkit.Snapshot(t, h.db)
	for _, b := range webtest.HostileBodies(h.fields) {
		t.Run(b.Name, func(t *testing.T) {
			r := h.pay(t, h.genuine, b.Body)
			webtest.AssertErrorResponse(t, r.status, r.header, r.body, b.Status)
		})
	}
	for _, hh := range webtest.HostileHeaders(h.fields) {
		t.Run(hh.Name, func(t *testing.T) {
			r, err := send(http.MethodPost, h.url+"/api/payments", h.genuine, hh)
			require.NoError(t, err)
			webtest.AssertErrorResponse(t, r.status, r.header, r.body, hh.Status)
		})
	}
	t.Run("reads from another site are answered", func(t *testing.T) {
		want := h.get(t, h.genuine, "/api/payments/"+h.order.ID)
		r, err := send(http.MethodGet, h.url+"/api/payments/"+h.order.ID, h.genuine, webtest.Headers{Header: webtest.CrossSite()})
		require.NoError(t, err)
		assert.Equal(t, want.status, r.status)
		assert.Equal(t, string(want.body), string(r.body))
	})
	for _, id := range webtest.MalformedIDs() {
		t.Run("orderId "+id[:min(len(id), 40)], func(t *testing.T) {
			r := h.pay(t, h.genuine, webtest.Object(h.fields, map[string]string{"orderId": `"` + id + `"`}))
			webtest.AssertErrorResponse(t, r.status, r.header, r.body, http.StatusBadRequest)
		})
	}
	h.assertNothingWritten(t, before)
}

// TestForgedSessions_AreNotAuthorizedAndWriteNothing sends each forged
// session of the order's buyer with an otherwise valid payment.
func TestForgedSessions_AreNotAuthorizedAndWriteNothing(t *testing.T) {
	h := newHostileApp(t)
	before := testkit.Snapshot(t, h.db)
	for _, f := range webtest.ForgedSessions(t, []byte(testkit.JWTKey), h.buyer) {
		t.Run(f.Name, func(t *testing.T) {
			r := h.pay(t, f.Cookie, webtest.Object(h.fields, nil))
			webtest.AssertErrorResponse(t, r.status, r.header, r.body, http.StatusUnauthorized)
		})
	}
	h.assertNothingWritten(t, before)
}
