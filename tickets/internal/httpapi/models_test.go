package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"ticketing.dev/common/events"
	"ticketing.dev/tickets/internal/ticket"
)

func TestParsePrice(t *testing.T) {
	cases := []struct {
		raw  string
		want events.Money
		msg  string
	}{
		{`10.99`, 1099, ""},
		{`"10.99"`, 1099, ""},
		{`" 10.5 "`, 1050, ""},
		{`10`, 1000, ""},
		{`0.01`, 1, ""},
		{`1.099e1`, 1099, ""},
		{`1000000`, events.MaxPrice, ""},
		{``, 0, ticket.MsgPricePositive},
		{`null`, 0, ticket.MsgPricePositive},
		{`0`, 0, ticket.MsgPricePositive},
		{`-10`, 0, ticket.MsgPricePositive},
		{`-10.999`, 0, ticket.MsgPricePositive},
		{`"-5"`, 0, ticket.MsgPricePositive},
		{`""`, 0, ticket.MsgPricePositive},
		{`"ten"`, 0, ticket.MsgPricePositive},
		{`"NaN"`, 0, ticket.MsgPricePositive},
		{`"Infinity"`, 0, ticket.MsgPricePositive},
		{`"0x10"`, 0, ticket.MsgPricePositive},
		{`true`, 0, ticket.MsgPricePositive},
		{`{"$gt":0}`, 0, ticket.MsgPricePositive},
		{`[10]`, 0, ticket.MsgPricePositive},
		{`1e-400`, 0, ticket.MsgPricePositive},
		{`10.999`, 0, ticket.MsgPriceCents},
		{`"10.999"`, 0, ticket.MsgPriceCents},
		{`0.001`, 0, ticket.MsgPriceCents},
		{`1000000.01`, 0, ticket.MsgPriceTooHigh},
		{`99999999999999999999`, 0, ticket.MsgPriceTooHigh},
		{`1e400`, 0, ticket.MsgPriceTooHigh},
	}
	for _, c := range cases {
		got, msg := parsePrice(json.RawMessage(c.raw))
		assert.Equal(t, c.msg, msg, c.raw)
		assert.Equal(t, c.want, got, c.raw)
	}
}
