package httpapi

import (
	"encoding/json"
	"testing"

	"ticketing.dev/common/web"
	"ticketing.dev/common/web/webtest"
)

var createOrderFields = []webtest.Field{{Name: "ticketId", Valid: `"507f1f77bcf86cd799439011"`}}

// FuzzDecodeCreateOrder checks that a body of POST /api/orders is either
// refused with a client error naming only ticketId, or yields the body's own
// ticketId, which is an id as the API hands them out.
func FuzzDecodeCreateOrder(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `{"ticketId":"507f1f77bcf86cd799439011"}`, `{"ticketId":"507F1F77BCF86CD799439011"}`,
		`{"ticketId":"507f1f77bcf86cd79943901"}`, `{"ticketId":"507f1f77bcf86cd7994390111"}`,
		`{"ticketId":"zzzzzzzzzzzzzzzzzzzzzzzz"}`, `{"ticketId":"507f1f77bcf86cd79943901\u0000"}`,
		`{"ticketId":"507f1f77bcf86cd799439011","ticketid":{"$ne":null}}`,
	} {
		f.Add([]byte(s))
	}
	// Large seeds would make the fuzzer spend its time minimizing.
	for _, b := range webtest.HostileBodies(createOrderFields) {
		if len(b.Body) <= 2<<10 {
			f.Add([]byte(b.Body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, r := webtest.Post(body)
		got, err := decodeCreateOrder(w, r)
		if err != nil {
			webtest.CheckRefusal(t, body, err, "ticketId")
			return
		}
		webtest.CheckAcceptedShape(t, body)
		var raw createOrderRequest
		if err := json.Unmarshal(body, &raw); err != nil || raw != got {
			t.Fatalf("decoded %q as %+v; encoding/json reads %+v, %v", body, got, raw, err)
		}
		if !web.ValidID(got.TicketID) {
			t.Fatalf("accepted ticketId %q", got.TicketID)
		}
	})
}
