package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

var paymentFields = []webtest.Field{
	{Name: "token", Valid: `"tok_visa"`},
	{Name: "orderId", Valid: `"507f1f77bcf86cd799439011"`},
}

// FuzzDecodePayment checks that a body of POST /api/payments is either
// refused with a client error naming only its fields, or yields the body's
// own order id, an id as the API hands them out, and its token trimmed,
// present and short enough to send to Stripe.
func FuzzDecodePayment(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"token":"tok_visa","orderId":"507f1f77bcf86cd799439011"}`,
		`{"token":"  tok_visa\t","orderId":"507F1F77BCF86CD799439011"}`,
		`{"token":"   ","orderId":"507f1f77bcf86cd799439011"}`,
		`{"token":"` + strings.Repeat("t", 256) + `","orderId":"507f1f77bcf86cd799439011"}`,
		`{"token":"tok_visa","orderId":"not-an-id"}`, `{"token":"tok_visa&amount=1","orderId":"507f1f77bcf86cd799439011"}`,
	} {
		f.Add([]byte(s))
	}
	// Large seeds would make the fuzzer spend its time minimizing.
	for _, b := range webtest.HostileBodies(paymentFields) {
		if len(b.Body) <= 2<<10 {
			f.Add([]byte(b.Body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, r := webtest.Post(body)
		got, err := decodePayment(w, r)
		if err != nil {
			webtest.CheckRefusal(t, body, err, "token", "orderId")
			return
		}
		webtest.CheckAcceptedShape(t, body)
		var raw createPaymentRequest
		if err := json.Unmarshal(body, &raw); err != nil || got.OrderID != raw.OrderID || got.Token != strings.TrimSpace(raw.Token) {
			t.Fatalf("decoded %q as %+v; encoding/json reads %+v, %v", body, got, raw, err)
		}
		if !web.ValidID(got.OrderID) || got.Token == "" || len(got.Token) > maxTokenLen || got.Token != strings.TrimSpace(got.Token) {
			t.Fatalf("accepted %+v", got)
		}
	})
}
