package events_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/events"
)

func TestParseMoney(t *testing.T) {
	ok := []struct {
		in   string
		want events.Money
	}{
		{"10", 1000},
		{"10.99", 1099},
		{"10.5", 1050},
		{"10.50", 1050},
		{"10.990", 1099},
		{"0.01", 1},
		{"0", 0},
		{"-5.25", -525},
		{"1.099e1", 1099},
		{"1E2", 10000},
		{"1000000", 100000000},
		{"0.0100", 1},
		{"12345678901234.56", 1234567890123456},
	}
	for _, c := range ok {
		got, err := events.ParseMoney(c.in)
		if assert.NoError(t, err, c.in) {
			assert.Equal(t, c.want, got, c.in)
		}
	}
	bad := []string{"10.999", "0.001", "", ".5", "5.", "abc", "1e", "1e-3", "1.2.3", "0x10", "1e400", "99999999999999999", "+5", "--1", "NaN", "Infinity", "1e++5", "1e+-5", "0e++0", "0e+-0", "1e-+5", "1e", "1e+", "1e-"}
	for _, in := range bad {
		_, err := events.ParseMoney(in)
		assert.ErrorIs(t, err, events.ErrMoneyFormat, in)
	}
}

func TestMoneyJSON_RoundTripsExactly(t *testing.T) {
	for _, in := range []string{"10.99", "10.5", "10", "0.01", "1000000", "19.9"} {
		var m events.Money
		require.NoError(t, json.Unmarshal([]byte(in), &m))
		out, err := json.Marshal(m)
		require.NoError(t, err)
		assert.Equal(t, in, string(out))
	}
}

func TestMoneyJSON_AcceptsStringsAsTheOriginalClientSends(t *testing.T) {
	var body struct {
		Price events.Money `json:"price"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"price":"20.25"}`), &body))
	assert.Equal(t, events.Money(2025), body.Price)
}

func TestMoneyJSON_RejectsWrongTypes(t *testing.T) {
	for _, in := range []string{`{"price":{"$gt":0}}`, `{"price":[1]}`, `{"price":true}`, `{"price":"ten"}`, `{"price":10.999}`} {
		var body struct {
			Price events.Money `json:"price"`
		}
		assert.Error(t, json.Unmarshal([]byte(in), &body), in)
	}
}

func TestEventsJSON_MatchTheOriginalWireFormat(t *testing.T) {
	expires, err := time.Parse(time.RFC3339Nano, "2026-11-25T14:30:00.123456Z")
	require.NoError(t, err)
	cases := []struct {
		event events.Event
		want  string
	}{
		{events.TicketCreated{ID: "t1", Version: 0, Title: "concert", Price: 2050, UserID: "u1"},
			`{"id":"t1","version":0,"title":"concert","price":20.5,"userId":"u1"}`},
		{events.TicketUpdated{ID: "t1", Version: 1, Title: "concert", Price: 2050, UserID: "u1", OrderID: "o1"},
			`{"id":"t1","version":1,"title":"concert","price":20.5,"userId":"u1","orderId":"o1"}`},
		{events.TicketUpdated{ID: "t1", Version: 2, Title: "concert", Price: 2050, UserID: "u1"},
			`{"id":"t1","version":2,"title":"concert","price":20.5,"userId":"u1"}`},
		{events.OrderCreated{ID: "o1", Version: 0, Status: events.StatusCreated, UserID: "u2", ExpiresAt: events.NewTime(expires), Ticket: events.OrderTicket{ID: "t1", Price: 2050}},
			`{"id":"o1","version":0,"status":"created","userId":"u2","expiresAt":"2026-11-25T14:30:00.123Z","ticket":{"id":"t1","price":20.5}}`},
		{events.OrderCancelled{ID: "o1", Version: 1, Ticket: events.TicketRef{ID: "t1"}},
			`{"id":"o1","version":1,"ticket":{"id":"t1"}}`},
		{events.ExpirationComplete{OrderID: "o1"}, `{"orderId":"o1"}`},
		{events.PaymentCreated{ID: "p1", OrderID: "o1", StripeID: "ch_1"}, `{"id":"p1","orderId":"o1","stripeId":"ch_1"}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.event)
		require.NoError(t, err)
		assert.JSONEq(t, c.want, string(b), string(c.event.Subject()))
		assert.Equal(t, c.want, string(b))
	}
}

func TestOrderStatus_Active(t *testing.T) {
	assert.True(t, events.StatusCreated.Active())
	assert.True(t, events.StatusAwaitingPayment.Active())
	assert.True(t, events.StatusComplete.Active())
	assert.False(t, events.StatusCancelled.Active())
	assert.False(t, events.OrderStatus("bogus").Valid())
}
